"""The control room for a scheduled or sending issue (owner: the control helper): routes on
:data:`newsletter.web.admin.admin`."""
