"""XML text escaping, shared by the renderers and the field overrides.

Its own module because both sides of the renderers import it: ``views`` (through the
field overrides) sits below ``render``, which serialises the views' trees.
"""

XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'


def escape(text: str) -> str:
    """Escape text for element content and double-quoted attributes."""
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if '"' in text:
        text = text.replace('"', "&quot;")
    return text
