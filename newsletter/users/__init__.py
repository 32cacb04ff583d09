"""Staff accounts (editors and operators): passwords (:mod:`~newsletter.users.passwords`),
accounts, logins and API tokens (:mod:`~newsletter.users.accounts`). The services
(:mod:`newsletter.services.users`) open the transactions; the faces never come here."""
