"""What comes back: bounce and complaint reports (read from maildir, mbox or IMAP, matched to
our messages and applied), and clicks and opens through the tracked links."""
