"""The preview desk for one issue (owner: the desk helper): routes on
:data:`newsletter.web.admin.admin`."""
