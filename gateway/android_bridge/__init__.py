"""Donated Android phones as channels, through SMS-gateway apps that already exist (DESIGN decision 10).

One module per app, each a ``Transport`` kind registered with :mod:`gateway.transports.base`:

- :mod:`.smsgate_local` (kind ``smsgate``): SMSGate in local-server mode; the gateway is the phone's client.
- :mod:`.smsgate_private` (kind ``smsgate-private``): SMSGate in private-server mode; the phone dials in to
  the gateway over HTTPS (:mod:`gateway.tls` makes the certificates it trusts).
- :mod:`.envaya` (kind ``envaya``): the legacy EnvayaSMS app posts to an endpoint the gateway serves.
- :mod:`.smssync` (kind ``smssync``): the legacy Ushahidi SMSSync app, the same way round.

Shared pieces: :mod:`.signatures` (the apps' request signatures, pure), :mod:`.listener` (the HTTP listener
the apps that dial in talk to), :mod:`.handover` (messages waiting for a phone that fetches its work) and
:mod:`.phones` (the paired-phone book that ``recado phone`` keeps).
"""
