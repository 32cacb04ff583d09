"""Building the issue: week keys, selection, the draft and its edits, the size budget, the
variants composed for sending, previews, test copies and the online copy, and the one state
machine of an issue's status (:mod:`newsletter.issues.status`)."""
