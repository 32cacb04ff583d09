"""The signed links of one recipient (unsubscribe, preferences, view online) and their values."""

from __future__ import annotations

from newsletter.compose.personalize import Recipient
from newsletter.sections import sections_of
from newsletter.tokens import Signer


def recipient_values(
    signer: Signer,
    base_url: str,
    *,
    issue_id: int,
    subscriber_id: int,
    email: str,
    name: str | None,
    category_mask: int,
) -> Recipient:
    subject = str(subscriber_id)
    picks = sections_of(category_mask)
    return Recipient(
        greeting_name=(name or "").split(" ")[0] or "there",
        email=email,
        picks=f" for {', '.join(picks)}" if picks else "",
        unsubscribe_url=f"{base_url}/u/{signer.make('unsubscribe', subject)}",
        preferences_url=f"{base_url}/p/{signer.make('preferences', subject)}",
        view_online_url=f"{base_url}/v/{signer.make('view', f'{issue_id}.{subject}')}",
        click_token=signer.make("click", f"{issue_id}.{subject}"),
    )
