"""The gestora's web panel: server-rendered pages (Starlette, Jinja2, htmx) over the same use
cases as the chat and the command line. A front end at the edge: nothing below imports it,
and it imports no chat channel."""
