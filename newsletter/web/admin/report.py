"""The report for a sent issue (owner: the report helper): routes on
:data:`newsletter.web.admin.admin`."""
