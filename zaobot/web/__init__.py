"""The browser side of `zaobot serve`: the moderators' console and the local playground.

Plain HTML rendered on the server (Jinja2), a little vanilla JavaScript served from the package,
SVG plots drawn on the server: no build step, nothing fetched from the internet.
"""
