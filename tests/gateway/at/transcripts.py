"""Modem transcripts as they come off the wire, one segment per command, for the parser tests.

Each transcript is a list of ``(command, bytes the modem sent while it ran)``; ``None`` as command means the
modem spoke while nothing was running. The bytes follow vendor captures (python-gsmmodem's fake modem
profiles, gammu's ``tests/at-*`` dumps, the vendors' AT manuals) with the faults ``reference/modems.md``
reports in the field spliced in: URCs in the middle of responses, echo, stray non-UTF-8 bytes.
"""

from __future__ import annotations

from gateway.at import Command

CMGS_PDU = "0001000D91251155214365F7000005E8329BFD06"

Transcript = list[tuple[Command | None, bytes]]

TRANSCRIPTS: dict[str, Transcript] = {
    "huawei start-up, echo on, ^RSSI inside +CSQ": [
        (None, b"\r\n^BOOT:21395478,0,0,0,72\r\n\r\n^SYSSTART\r\n"),
        (Command("AT"), b"AT\r\r\nOK\r\n"),
        (Command("ATE0"), b"ATE0\r\r\nOK\r\n"),
        (Command("AT+CSQ"), b"\r\n^RSSI:17\r\n\r\n+CSQ: 17,99\r\n\r\n^MODE:5,4\r\nOK\r\n"),
        (Command("AT+CGMI"), b"\r\nhuawei\r\n\r\nOK\r\n"),
        (Command("AT+CLAC"), b"\r\nCOMMAND NOT SUPPORT\r\n"),
    ],
    "submit with +CMTI between the prompt and the result, echo on": [
        (
            Command("AT+CMGS=19", payload=CMGS_PDU),
            b"AT+CMGS=19\r\r\n> "
            + CMGS_PDU.encode()
            + b'\x1a\r\n+CMTI: "ME",3\r\n\r\n+CMGS: 42\r\n\r\nOK\r\n',
        ),
        (
            Command("AT+CMGR=3"),
            b"\r\n+CMGR: 0,,24\r\n07915892000000F0040B915121551532F40000111011315214000AE8329BFD4697D9EC37\r\n\r\nOK\r\n",
        ),
    ],
    "listing with +CMT and a non-UTF-8 byte in the middle": [
        (
            Command("AT+CMGL=4"),
            b"\r\n+CMGL: 1,1,,24\r\n07915892000000F0040B915121551532F40000111011315214000AE8329BFD4697D9EC37\r\n"
            b"\r\n+CMT: ,24\r\n07915892000000F0040B915121551532F40000111011315214000AE8329BFD4697D9EC37\r\n"
            b"\r\n\xff\xfe\x80 noise\r\n"
            b"+CMGL: 2,1,,24\r\n07915892000000F0040B915121551532F40000111011315214000AE8329BFD4697D9EC37\r\n\r\nOK\r\n",
        ),
    ],
    "simcom boot between commands, +CME and +CMS errors": [
        (None, b"\r\nRDY\r\n\r\n+CFUN: 1\r\n\r\n+CPIN: READY\r\n\r\nCall Ready\r\n\r\nSMS Ready\r\n"),
        (Command("AT+CPIN?"), b"\r\n+CPIN: READY\r\n\r\nOK\r\n"),
        (Command("AT+CMGF=0"), b"\r\n+CME ERROR: 14\r\n"),
        (Command("AT+CMGR=9"), b"\r\n+CMS ERROR: 321\r\n"),
        (Command("AT+CMEE=2"), b"\r\nOK\r\n"),
        (Command("AT+CPMS?"), b"\r\n+CME ERROR: SIM busy\r\n"),
    ],
    "quectel: +QIND noise, USSD answer after OK, +CDSI in the wrong memory": [
        (Command('AT+CUSD=1,"*133#",15'), b"\r\nOK\r\n"),
        (None, b'\r\n+QIND: "csq",18,99\r\n\r\n+CUSD: 0,"Saldo: 42.50 MXN",15\r\n\r\n+CDSI: "SM",0\r\n'),
        (Command("AT+CREG?"), b"\r\n+CREG: 0,1\r\n\r\n+CREG: 5\r\n\r\nOK\r\n"),
    ],
}
