"""Composition, pure: plain data in, plain data out, no database and no network.

An issue's cards are rendered and CSS-inlined once per variant (``render``), tracked links
written in once (``tracking``), per-recipient values substituted into the result
(``personalize``, ``links``), and message bytes assembled per recipient from pre-encoded
pieces (``message``, ``headers``, ``message_ids``); plus the size budget (``budget``), the
score colours (``colors``) and the confirmation mail (``confirmation``).
"""
