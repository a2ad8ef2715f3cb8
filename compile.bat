@echo off
rem compile.bat - builds client.exe, serveur_maitre.exe and serveur_esclave.exe
rem on Windows with MinGW-w64's gcc (on the PATH, or set CC=...\gcc.exe first).
rem
rem The same sources and flags as "make windows" on Linux (which cross-compiles
rem with x86_64-w64-mingw32-gcc); tests/windows/windows.t checks the flags below
rem against "make windows-sources", runs this script under Wine and compares the
rem files it hands to gcc with the Makefile's.
setlocal enabledelayedexpansion
cd /d "%~dp0"
if "%CC%"=="" set CC=gcc
set CFLAGS=-std=c11 -O2 -g -Wall -Wextra -D__USE_MINGW_ANSI_STDIO=1 -I. -Ilib
set LDFLAGS=-static
set LDLIBS=-lws2_32
rem Sources by folder, as in the Makefile: lib\ for all three, then each
rem program's own folder.
set LIB=
for %%f in (lib\*.c) do set LIB=!LIB! lib/%%~nxf
set CLIENT=client.c
for %%f in (report\*.c) do set CLIENT=!CLIENT! report/%%~nxf
set MASTER=serveur_maitre.c
for %%f in (master\*.c) do set MASTER=!MASTER! master/%%~nxf
set SLAVE=serveur_esclave.c
for %%f in (slave\*.c) do set SLAVE=!SLAVE! slave/%%~nxf

echo building client.exe
%CC% %CFLAGS% %LDFLAGS% -o client.exe %CLIENT% %LIB% %LDLIBS%
if errorlevel 1 goto failed
echo building serveur_maitre.exe
%CC% %CFLAGS% %LDFLAGS% -o serveur_maitre.exe %MASTER% %LIB% %LDLIBS%
if errorlevel 1 goto failed
echo building serveur_esclave.exe
%CC% %CFLAGS% %LDFLAGS% -o serveur_esclave.exe %SLAVE% %LIB% %LDLIBS%
if errorlevel 1 goto failed
echo compile.bat: built client.exe, serveur_maitre.exe and serveur_esclave.exe
exit /b 0

:failed
echo compile.bat: the build failed (is MinGW-w64's gcc on the PATH?) 1>&2
exit /b 1
