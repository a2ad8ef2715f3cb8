@echo off
rem compile.bat - builds client.exe, serveur_maitre.exe and serveur_esclave.exe
rem on Windows with MinGW-w64's gcc (on the PATH, or set CC=...\gcc.exe first).
rem
rem The same sources and flags as "make windows" on Linux (which cross-compiles
rem with x86_64-w64-mingw32-gcc); tests/windows/windows.t checks the lines below
rem against "make windows-sources" and runs this script under Wine.
setlocal
cd /d "%~dp0"
if "%CC%"=="" set CC=gcc
set CFLAGS=-std=c11 -O2 -g -Wall -Wextra -D__USE_MINGW_ANSI_STDIO=1
set LDFLAGS=-static
set LDLIBS=-lws2_32
set COMMON=buf.c dedup.c sha256.c auth.c proto.c xfer.c log.c netaddr.c platform_posix.c platform_win32.c cli.c conf.c
set CLIENT=client.c report.c
set MASTER=serveur_maitre.c master.c
set SLAVE=serveur_esclave.c slave.c runner.c runner_posix.c runner_win32.c

echo building client.exe
%CC% %CFLAGS% %LDFLAGS% -o client.exe %CLIENT% %COMMON% %LDLIBS%
if errorlevel 1 goto failed
echo building serveur_maitre.exe
%CC% %CFLAGS% %LDFLAGS% -o serveur_maitre.exe %MASTER% %COMMON% %LDLIBS%
if errorlevel 1 goto failed
echo building serveur_esclave.exe
%CC% %CFLAGS% %LDFLAGS% -o serveur_esclave.exe %SLAVE% %COMMON% %LDLIBS%
if errorlevel 1 goto failed
echo compile.bat: built client.exe, serveur_maitre.exe and serveur_esclave.exe
exit /b 0

:failed
echo compile.bat: the build failed (is MinGW-w64's gcc on the PATH?) 1>&2
exit /b 1
