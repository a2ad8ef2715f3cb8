@echo off
rem stop_servers.bat - stops what start_servers.bat started: every
rem serveur_maitre.exe and serveur_esclave.exe of this user (taskkill /f).
rem A slave's commands die with it (each runs in a job object killed with
rem the slave); the master's clients see it go. For a clean shutdown instead,
rem press Ctrl-C in the console that ran start_servers.bat.
setlocal
if defined RUN_DIR (cd /d "%RUN_DIR%") else (cd /d "%~dp0")
taskkill /f /im serveur_maitre.exe >nul 2>&1
taskkill /f /im serveur_esclave.exe >nul 2>&1
if exist .servers.started del .servers.started
echo stopped: the master and the slaves
exit /b 0
