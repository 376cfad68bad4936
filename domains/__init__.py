"""Domains: the product Weft runs inside, plugged in through the WEFT_DOMAIN setting.

`domains.protocol` is the whole contract; `domains.loading` finds the selected domain;
`domains.calls` is the only way the rest of Weft calls one (it turns whatever a domain does
wrong into a message the user sees); `domains.http` is the built-in domain for hosts that are
not written in Python.
"""
