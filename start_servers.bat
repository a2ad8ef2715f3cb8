@echo off
rem start_servers.bat - the classroom launch on Windows: one slave for every
rem line of slaves.conf that names this machine (127.* or localhost), then the
rem master, all in the background of this console (start /b). Logs go to
rem logs\ in %RUN_DIR% (default: this script's folder).
rem
rem   start_servers.bat [SLAVES_CONF [MASTER_PORT]]
rem
rem Stop them with stop_servers.bat, or with Ctrl-C in this console (a clean
rem shutdown: slaves kill their commands, the master tells its clients).
rem Plain cmd.exe only (no delayed expansion), so that it runs under Wine too.
setlocal
set "here=%~dp0"
set "conf=%~1"
if "%conf%"=="" set "conf=%here%slaves.conf"
if not exist "%conf%" goto no_conf
for %%f in ("%conf%") do set "conf=%%~ff"
set "port=%~2"
if "%port%"=="" set "port=6000"
if not exist "%here%serveur_esclave.exe" goto not_built
if defined RUN_DIR (cd /d "%RUN_DIR%") else (cd /d "%here%")
if exist .servers.started goto already
if not exist logs mkdir logs
echo %date% %time% > .servers.started
set "started="
for /f "usebackq eol=# tokens=1-3" %%a in ("%conf%") do call :conf_line %%a %%b %%c
start "" /b "%here%serveur_maitre.exe" %port% "%conf%" > logs\maitre.log 2>&1
set "started=%started% maitre"
rem A daemon that cannot start says why (": error: ") and exits within a
rem moment. A running one's log is open, maybe not readable while it is
rem (Wine's cmd shares it with no writer): its absence is the good sign.
rem One second: "timeout /t" needs a console, ping does not.
ping -n 2 127.0.0.1 >nul 2>&1
set "failed="
for %%n in (%started%) do call :check logs\%%n.log
if defined failed goto failed
for %%n in (%started%) do echo started: %%n (log logs\%%n.log)
echo master on TCP 127.0.0.1:%port%
echo watch a slave work: type logs\esclave-PORT.log (the client's [N], output, code retour)
echo now: client.exe examples\commands.txt    stop: stop_servers.bat
exit /b 0

:no_conf
echo start_servers.bat: no file '%conf%' 1>&2
exit /b 1
:not_built
echo start_servers.bat: run compile.bat first 1>&2
exit /b 1
:already
echo start_servers.bat: servers already started (see .servers.started); run stop_servers.bat first 1>&2
exit /b 1
:failed
call "%here%stop_servers.bat" >nul
exit /b 1

rem :conf_line HOST PORT [SLOTS] - a line of slaves.conf
:conf_line
set "host=%~1"
if "%host:~0,4%"=="127." goto local_slave
if /i "%host%"=="localhost" goto local_slave
echo start_servers.bat: %1:%2 is another machine: start 'serveur_esclave.exe %2' there
exit /b 0
:local_slave
set "slots=%~3"
set "jobs="
if not "%slots%"=="" if not "%slots:~0,1%"=="#" set "jobs=-j %slots%"
start "" /b "%here%serveur_esclave.exe" %jobs% %2 > logs\esclave-%2.log 2>&1
set "started=%started% esclave-%2"
exit /b 0

rem :check LOG - fails if the log says the program could not start
:check
find ": error: " "%~1" >nul 2>&1
if errorlevel 1 exit /b 0
echo start_servers.bat: %~1 says: 1>&2
type "%~1" 1>&2
set failed=1
exit /b 0
