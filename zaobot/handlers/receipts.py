"""What the user (or the operator) is told after a deletion: the receipt, in their language.

Storage counts what it removed (`storage.PurgeReceipt`); how that reads is the bot's business.
"""

from __future__ import annotations

from zaobot import wording
from zaobot.storage import PurgeReceipt


def receipt_text(receipt: PurgeReceipt, lang: wording.Lang = "en") -> str:
    """What was removed and what remains, from the real counts."""
    r = receipt.removed
    body = wording.text("delete.receipt", lang, selfies=r["selfies"], clips=r["clips"], jobs=r["jobs"],
                        consents=r["consents"], reports=r["reports"], profile=r["profile"],
                        cancelled=r["cancelled_jobs"])
    if r.get("temp_files"):
        body += "\n" + wording.text("delete.receipt_temp", lang, count=r["temp_files"])
    if receipt.audit_rows_kept:
        until = (receipt.audit_kept_until or "")[:10]
        body += "\n" + wording.text("delete.receipt_audit", lang, count=receipt.audit_rows_kept, until=until)
    else:
        body += "\n" + wording.text("delete.receipt_no_audit", lang)
    return body
