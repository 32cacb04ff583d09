"""The pre-flight check: what stands between an issue and the inbox, found before it is sent.

:func:`~newsletter.preflight.run.check_issue` renders the draft as it would go out and runs
every check over it (:mod:`.content`, :mod:`.links`, :mod:`.spam`, :mod:`.auth`,
:mod:`.unsubscribe`); :func:`~newsletter.preflight.gate.may_send` is what the tick and the
weekly job ask before a scheduled send starts.
"""
