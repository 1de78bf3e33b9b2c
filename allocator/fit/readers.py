"""Reading ad-platform exports as planners have them: Meta Ads Manager, Google Ads, LinkedIn
Campaign Manager, TikTok Ads Manager (CSV or XLSX, English or German column names), or any
table with a column mapping.

Real exports carry notes above the header, total rows at the bottom, "--" for none,
currency symbols and locale number formats (1.234,56 and 1,234.56; "Rp 1.234.567", "€").
The result is one canonical table per file: date, campaign, objective, currency, spend and
whatever outcome columns the export has. The file itself is only ever read.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import AllocatorError
from ..scenario import AMOUNTS, did_you_mean

__all__ = ["Export", "ExportError", "read_export", "parse_numbers", "FORMATS", "OUTCOMES"]

# canonical column -> the names each platform's export uses (case and spacing ignored)
FORMATS: dict[str, dict[str, list[str]]] = {
    "meta": {
        "date": ["Reporting starts", "Day", "Berichtsbeginn", "Tag"],
        "campaign": ["Campaign name", "Kampagnenname"],
        "objective": ["Objective", "Ziel"],
        "spend": ["Amount spent", "Ausgegebener Betrag"],
        "currency": ["Currency", "Währung"],
        "impressions": ["Impressions", "Impressionen"],
        "reach": ["Reach", "Reichweite"],
        "link_clicks": ["Link clicks", "Link-Klicks"],
        "clicks": ["Clicks (all)", "Klicks (alle)"],
        "results": ["Results", "Ergebnisse"],
        "purchases": ["Purchases", "Käufe"],
        "leads": ["Leads"],
        "revenue": ["Purchases conversion value", "Purchase conversion value",
                    "Conversion-Wert für Käufe"],
    },
    "google": {
        "date": ["Day", "Date", "Tag"],
        "campaign": ["Campaign", "Kampagne"],
        "objective": ["Campaign type", "Kampagnentyp", "Advertising channel type"],
        "spend": ["Cost", "Kosten"],
        "currency": ["Currency code", "Currency", "Währungscode"],
        "impressions": ["Impr.", "Impressions", "Impressionen"],
        "clicks": ["Clicks", "Klicks"],
        "conversions": ["Conversions", "Conv.", "Konversionen"],
        "revenue": ["Conv. value", "Conversion value", "Konv.-Wert"],
    },
    "linkedin": {
        "date": ["Start Date (in UTC)", "Start Date"],
        "campaign": ["Campaign Name"],
        "objective": ["Campaign Objective", "Objective"],
        "spend": ["Total Spent", "Amount Spent"],
        "currency": ["Currency"],
        "impressions": ["Impressions"],
        "reach": ["Approximate Member Reach", "Reach"],
        "clicks": ["Clicks"],
        "link_clicks": ["Landing Page Clicks"],
        "leads": ["Leads"],
        "conversions": ["Conversions"],
        "revenue": ["Conversion Value"],
    },
    "tiktok": {
        "date": ["By Day", "Date", "Stat time day"],
        "campaign": ["Campaign name", "Campaign Name"],
        "objective": ["Advertising objective", "Objective"],
        "spend": ["Cost", "Total cost", "Spend"],
        "currency": ["Currency"],
        "impressions": ["Impressions", "Impression"],
        "reach": ["Reach"],
        "clicks": ["Clicks (destination)", "Clicks"],
        "conversions": ["Conversions"],
        "purchases": ["Complete payment", "Purchases"],
        "leads": ["Leads", "Form submissions"],
        "revenue": ["Total complete payment value", "Purchase value", "Total purchase value"],
    },
    "generic": {
        "date": ["date"], "campaign": ["campaign"], "spend": ["spend"],
        "outcome": ["outcome"], "revenue": ["value", "revenue"], "platform": ["platform"],
        "objective": ["objective"], "currency": ["currency"],
    },
}
# columns whose presence tells one platform's export from another's
_MARKERS = {"meta": {"Amount spent", "Ausgegebener Betrag", "Reporting starts", "Berichtsbeginn",
                     "Link clicks", "Purchases conversion value"},
            "google": {"Impr.", "Conv. value", "Campaign type", "Currency code", "Konv.-Wert"},
            "linkedin": {"Total Spent", "Start Date (in UTC)", "Campaign Name",
                         "Approximate Member Reach", "Landing Page Clicks"},
            "tiktok": {"By Day", "Clicks (destination)", "Complete payment", "Stat time day",
                       "Total complete payment value", "Advertising objective"},
            "generic": set()}
OUTCOMES = ["impressions", "reach", "clicks", "link_clicks", "results", "purchases", "leads",
            "conversions", "outcome", "revenue"]
_NONE = {"", "--", "-", "—", "–", "n/a", "na", "none", "null"}  # 'nan' is refused: no data
_TOTAL = re.compile(r"^\s*(total|totals|gesamt|summe|grand total|ergebnisse gesamt)\b", re.I)
_CURRENCY = re.compile(r"(?i)\b(rp|idr|eur|usd|gbp|chf|sgd)\b|[€$£¥]|\brp\.?")


class ExportError(AllocatorError):
    """Problems in export files, each naming the file (and row and column when it can)."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass
class Export:
    file: str
    platform: str
    frame: pd.DataFrame  # canonical columns + "row" (the line in the file, 1-based)
    notes: list[str] = field(default_factory=list)


def _norm(name: str) -> str:
    return re.sub(r"\s+", " ", str(name).replace("\ufeff", "")).strip().lower()


def _base_name(name: str) -> tuple[str, str | None]:
    """'Amount spent (EUR)' -> ('amount spent', 'EUR')."""
    m = re.match(r"^(.*?)\s*\(([A-Z]{3})\)\s*$", str(name).strip())
    return (_norm(m.group(1)), m.group(2)) if m else (_norm(name), None)


# --- raw cells ------------------------------------------------------------------------------


_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # an old Excel .xls (and .doc, .msg) file
# what a file that is not an export usually is, by its first bytes
_SIGNATURES = [(b"\x89PNG\r\n\x1a\n", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"),
               (b"GIF87a", "a GIF image"), (b"GIF89a", "a GIF image"), (b"%PDF", "a PDF document"),
               (b"\x1f\x8b", "a gzip archive"), (b"PAR1", "a Parquet file"),
               (b"Rar!", "a RAR archive"), (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
               (b"SQLite format 3", "an SQLite database"), (b"RIFF", "a RIFF (WebP/WAV) file")]
_ZIP = b"PK\x03\x04"  # an .xlsx is a zip archive


def _raw_rows(path: Path) -> list[list]:
    """The file's cells, by what it holds rather than its name: a workbook renamed .csv is
    read as a workbook, a CSV named .xlsx as text; an old .xls or a binary file is refused."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ExportError([f"{path}: cannot be read: {exc.strerror}"]) from None
    kind = "CSV" if path.suffix.lower() in (".csv", ".tsv", ".txt") else "CSV or XLSX"
    for magic, what in _SIGNATURES:
        if data.startswith(magic):
            raise ExportError([f"{path}: this looks like {what}, not a {kind} export; download "
                               "the report from the ad platform as CSV or XLSX"])
    if not data.strip():
        raise ExportError([f"{path}: is empty; download the report again as CSV or XLSX"])
    if data.startswith(_ZIP):
        import zipfile

        from openpyxl import load_workbook

        try:
            names = zipfile.ZipFile(io.BytesIO(data)).namelist()
        except (zipfile.BadZipFile, OSError):
            raise ExportError([f"{path}: this looks like a damaged ZIP or XLSX file; download "
                               "the report again"]) from None
        if "xl/workbook.xml" not in names:
            what = ("a Word document" if "word/document.xml" in names else
                    "a PowerPoint file" if "ppt/presentation.xml" in names else
                    "a Numbers file" if any(n.startswith("Index/") for n in names) else
                    "a ZIP archive")
            inner = [n for n in names if n.lower().endswith((".csv", ".xlsx"))]
            hint = (f"; unzip it and give {inner[0]}" if inner and what == "a ZIP archive"
                    else "; export the report as CSV or XLSX")
            raise ExportError([f"{path}: this looks like {what}, not a {kind} export{hint}"])
        try:
            book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a file that is not xlsx
            raise ExportError([f"{path}: cannot open as an Excel workbook ({exc})"]) from None
        sheet = book.worksheets[0]
        rows = [list(r) for r in sheet.iter_rows(values_only=True)]
        book.close()
        return rows
    if data.startswith(_OLE):
        raise ExportError([f"{path}: is an old Excel workbook (.xls), which is not read; open "
                           "it in Excel and save it as .xlsx or CSV (UTF-8)"])
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        text = data.decode("utf-16")  # Google Ads' "CSV (Excel)" download
    elif b"\x00" in data[:65536]:  # text exports never hold NUL bytes
        raise ExportError([f"{path}: holds binary data, not a CSV or XLSX export; download "
                           "the report again as CSV or XLSX"])
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:  # an older Excel's "CSV": Windows-1252, else Latin-1
            try:
                text = data.decode("cp1252")
            except UnicodeDecodeError:
                text = data.decode("latin-1")
    if text.lstrip("\ufeff \t\r\n").startswith("<"):
        raise ExportError([f"{path}: is a web page or XML (HTML), not a CSV or XLSX export; "
                           "download the report as CSV or XLSX"])
    sample = "\n".join(text.splitlines()[:40])
    counts = {d: max((line.count(d) for line in sample.splitlines()), default=0)
              for d in (",", ";", "\t")}
    delim = max(counts, key=counts.get)
    reader = csv.reader(io.StringIO(text), delimiter=delim, strict=True)
    rows, end = [], 0
    try:
        for row in reader:
            rows.append(row)
            end = reader.line_num
    except csv.Error as exc:  # strict: an unclosed quote fails here instead of eating rows
        raise ExportError([f"{path}:{end + 1}: cannot read this row as CSV ({exc}); check "
                           "for a quote (\") that is not closed from this line on"]) from None
    return rows


def _find_header(rows: list[list], platform: str | None, names: dict[str, list[str]] | None
                 ) -> tuple[int, str, dict[str, int], dict[str, str]]:
    """The header row, which platform's format it is, canonical column -> index, and the
    currency named in a header like 'Amount spent (EUR)'."""
    best = None
    for r, row in enumerate(rows[:60]):
        cells = [_base_name(c) if c is not None else ("", None) for c in row]
        candidates = [platform] if platform else list(FORMATS)
        for plat in candidates:
            aliases = names if plat == "generic" and names else FORMATS[plat]
            found, currency = {}, {}
            for canon, options in aliases.items():
                wanted = {_norm(o) for o in ([options] if isinstance(options, str) else options)}
                for i, (base, cur) in enumerate(cells):
                    if base in wanted and canon not in found:
                        found[canon] = i
                        if cur:
                            currency[canon] = cur
            markers = sum(_norm(m) in {b for b, _ in cells} for m in _MARKERS[plat])
            if {"date", "spend"} <= set(found):
                score = (len(found) + 2 * markers, -r)
                if best is None or score > best[0]:
                    best = (score, r, plat, found, currency)
        if best is not None and best[1] < r - 3:
            break  # the header is behind us
    if best is None:
        return -1, "", {}, {}
    return best[1], best[2], best[3], best[4]


# --- numbers and dates --------------------------------------------------------------------


def _clean(text) -> str:
    s = str(text).replace("\u00a0", " ").replace("\u202f", " ").strip()
    s = _CURRENCY.sub("", s).replace("%", "").replace(" ", "").replace("'", "")
    if s.startswith("(") and s.endswith(")"):
        s = "-" + s[1:-1]
    return s


def _decimal_mark(values: list[str]) -> str | None:
    """',' or '.', as the column shows it; None when every value is ambiguous."""
    for s in values:
        if "." in s and "," in s:
            return "," if s.rfind(",") > s.rfind(".") else "."
    for s in values:
        if s.count(".") > 1:
            return ","
        if s.count(",") > 1:
            return "."
    for s in values:
        m = re.search(r"([.,])(\d+)$", s)
        if m and len(m.group(2)) != 3:
            return m.group(1)
    return None


def parse_numbers(cells: list, *, mark: str | None = None, where=None) -> np.ndarray:
    """Numbers from export cells: locale separators, currency symbols, '--' as none (0).
    `where(i, text)` names a cell that is not a number (raises)."""
    out = np.zeros(len(cells))
    texts = [None if isinstance(c, (int, float)) and not isinstance(c, bool) else
             _clean(c) for c in cells]
    mark = mark or _decimal_mark([t for t in texts if t]) or "."
    thousands = "," if mark == "." else "."
    for i, (cell, text) in enumerate(zip(cells, texts, strict=True)):
        if text is None:
            out[i] = float(cell) if cell == cell else 0.0
            continue
        if text.lower() in _NONE:
            continue
        s = text.replace(thousands, "").replace(mark, ".")
        try:
            out[i] = float(s)
        except ValueError:
            if where is None:
                raise ValueError(f"not a number: {cell!r}") from None
            where(i, cell)
    return out


_DATE_FORMATS = ["%Y-%m-%d", "%d.%m.%Y", "%d.%m.%y", "%d/%m/%Y", "%m/%d/%Y", "%Y/%m/%d",
                 "%b %d, %Y", "%d %b %Y", "%a, %b %d, %Y", "%B %d, %Y", "%d-%m-%Y"]


def _parse_dates(cells: list, month_first: bool, where) -> list[date | None]:
    # each distinct text once (an export repeats its dates on every campaign's row)
    texts = list(dict.fromkeys(c for c in cells if not isinstance(c, (datetime, date))
                               and c not in (None, "")))
    order = list(_DATE_FORMATS)
    if month_first:  # a US export: 01/05/2026 is January 5th
        order.remove("%m/%d/%Y")
        order.insert(0, "%m/%d/%Y")
    chosen = None
    for fmt in order:
        try:
            for t in texts:
                datetime.strptime(str(t).strip().split(" - ")[0].split("T")[0][:30], fmt)
            chosen = fmt
            break
        except ValueError:
            continue
    out: list[date | None] = []
    seen: dict = {}
    for i, c in enumerate(cells):
        if isinstance(c, datetime):
            out.append(c.date())
        elif isinstance(c, date):
            out.append(c)
        elif c in (None, ""):
            out.append(None)
        else:
            if c not in seen:
                try:
                    seen[c] = datetime.strptime(
                        str(c).strip().split(" - ")[0].split("T")[0][:30],
                        chosen or "%Y-%m-%d").date()
                except ValueError:
                    seen[c] = None
            if seen[c] is None:
                where(i, c)
            out.append(seen[c])
    return out


# --- the export -----------------------------------------------------------------------------


def read_export(path: str | Path, *, platform: str | None = None,
                columns: dict[str, str] | None = None) -> Export:
    """Read one export file. `platform` forces the format; `columns` maps canonical names
    (date, campaign, spend, outcome, value, platform, objective) to this file's own
    column names, for the generic format."""
    path = Path(path)
    if path.is_dir():
        raise ExportError([f"{path}: is a folder; give the export files in it, e.g. "
                           f"{path / '*.csv'}"])
    if not path.is_file():
        raise ExportError([f"{path}: no such file"])
    rows = _raw_rows(path)
    names = None
    if columns:
        names = {("revenue" if k == "value" else k): [v] for k, v in columns.items()}
        platform = platform if platform in FORMATS and platform != "generic" and not names \
            else "generic"
    header, plat, found, header_currency = _find_header(rows, platform, names)
    if header < 0:
        raise ExportError([_missing_columns(path, rows, platform, names)])
    problems: list[str] = []
    heads = [str(c) if c is not None else "" for c in rows[header]]
    for canon in ("campaign",):
        if canon not in found and plat != "generic":
            problems.append(_missing_one(path, heads, plat, canon))
    body = []
    for r in range(header + 1, len(rows)):
        row = rows[r]
        cells = [c for c in row if c not in (None, "")]
        if not cells:
            continue
        first = str(cells[0])
        if _TOTAL.match(first) or (found["date"] < len(row) and _TOTAL.match(
                str(row[found["date"]] or ""))):
            continue  # the export's own totals
        date_cell = row[found["date"]] if found["date"] < len(row) else None
        if date_cell in (None, "") and len(cells) <= 3:
            continue  # a note under the table
        body.append((r + 1, row))
    if not body:
        problems.append(f"{path}: no data rows under the header (line {header + 1})")
    if problems:
        raise ExportError(problems)

    def column(canon: str) -> list:
        i = found[canon]
        return [row[i] if i < len(row) else None for _, row in body]

    def at(canon: str, i: int, message: str) -> str:
        return f"{path}:{body[i][0]}: column '{heads[found[canon]]}': {message}"

    def bad(canon: str, kind: str):
        def where(i: int, cell) -> None:
            problems.append(at(canon, i, f"{cell!r} is not a {kind}"))
        return where

    frame = pd.DataFrame({"row": [r for r, _ in body]})
    # the file's number convention, decided by the columns that show it
    marks = [_decimal_mark([_clean(c) for c in column(k) if isinstance(c, str) and c.strip()])
             for k in found if k in OUTCOMES or k == "spend"]
    marks = [m for m in marks if m]
    file_mark = max(set(marks), key=marks.count) if marks else None
    for canon in found:
        if canon in OUTCOMES or canon == "spend":
            cells = column(canon)
            own = _decimal_mark([_clean(c) for c in cells if isinstance(c, str) and c.strip()])
            values = parse_numbers(cells, mark=own or file_mark, where=bad(canon, "number"))
            # inf, nan, 1e300: no account spends or counts that; the fit would carry it on
            for i in np.flatnonzero(~(np.abs(values) <= AMOUNTS[1])):
                problems.append(at(canon, i, f"{cells[i]!r} is not an amount from "
                                             f"-{AMOUNTS[1]:g} to {AMOUNTS[1]:g}"))
            frame[canon] = values
    currency = header_currency.get("spend")
    raw_spend = column("spend")
    if "currency" in found:
        frame["currency"] = [str(c).strip().upper() if c not in (None, "") else currency
                             for c in column("currency")]
    else:
        if currency is None:  # a symbol in the cells: "€ 12,50", "Rp 1.234.567"
            symbols = {_symbol(c) for c in raw_spend if isinstance(c, str)} - {None}
            currency = symbols.pop() if len(symbols) == 1 else None
        frame["currency"] = currency
    month_first = plat in ("google", "linkedin") and (currency or "USD") == "USD"
    frame["date"] = _parse_dates(column("date"), month_first, bad("date", "date (e.g. 2026-01-31)"))
    latest = date.today() + timedelta(days=1)  # a day's grace for time zones
    for i, day in enumerate(frame["date"]):
        if day is not None and day > latest:
            problems.append(at("date", i, f"{day} is in the future (today is {date.today()}); "
                                          "an export reports days that have passed: check the "
                                          "date format or the export"))
    frame["campaign"] = [str(c).strip() if c not in (None, "") else "(no name)"
                         for c in column("campaign")] if "campaign" in found else "(all)"
    frame["objective"] = [str(c).strip() if c not in (None, "") else None
                          for c in column("objective")] if "objective" in found else None
    if "platform" in found:
        frame["platform"] = [str(c).strip().lower() for c in column("platform")]
    if problems:
        raise ExportError(problems[:20] + ([f"... and {len(problems) - 20} more"]
                                           if len(problems) > 20 else []))
    notes = [" ".join(str(c) for c in row if c not in (None, "")) for row in rows[:header]]
    return Export(str(path), plat, frame, [n for n in notes if n])


def _symbol(cell: str) -> str | None:
    s = cell.strip()
    if "€" in s or re.search(r"(?i)\beur\b", s):
        return "EUR"
    if re.match(r"(?i)^rp\.?|\bidr\b", s):
        return "IDR"
    if "£" in s:
        return "GBP"
    if "$" in s or re.search(r"(?i)\busd\b", s):
        return "USD"
    return None


def _missing_columns(path: Path, rows: list[list], platform: str | None,
                     names: dict | None) -> str:
    """No header found: say what was expected and the nearest row we saw."""
    seen = max(rows[:60], key=lambda r: sum(1 for c in r if isinstance(c, str) and c.strip()),
               default=[])
    seen_names = [str(c) for c in seen if c not in (None, "")]
    if not platform and not names:  # the platform whose other columns are there
        cells = {_base_name(c)[0] for c in seen_names}
        score = {p: sum(any(_norm(a) in cells for a in aliases) for aliases in f.values())
                 for p, f in FORMATS.items() if p != "generic"}
        best = max(score, key=score.get)
        platform = best if score[best] >= 2 else None
    if platform and platform != "generic":
        want = FORMATS[platform]
    elif names:
        want = names
    else:
        want = {"date": ["a date column (Day, Date, Reporting starts, ...)"],
                "spend": ["a spend column (Cost, Amount spent (EUR), Total Spent, ...)"]}
    missing = []
    for canon in ("date", "spend"):
        options = want.get(canon, [])
        options = [options] if isinstance(options, str) else options
        if any(_norm(o) in {_base_name(c)[0] for c in seen_names} for o in options):
            continue  # this one is there
        hint = next((h for o in options if (h := did_you_mean(o, seen_names))), "")
        missing.append(f"{canon}: expected {' or '.join(repr(o) for o in options[:3])}{hint}")
    what = f" of a {platform} export" if platform and platform != "generic" else ""
    return (f"{path}: cannot find the header row{what}: {'; '.join(missing)}; found columns: "
            f"{', '.join(seen_names[:14]) or 'none'}. For another format, give a mapping "
            "file with columns: {date: ..., campaign: ..., spend: ..., outcome: ...}")


def _missing_one(path: Path, heads: list[str], platform: str, canon: str) -> str:
    options = FORMATS[platform][canon]
    hint = next((h for o in options if (h := did_you_mean(o, heads))), "")
    return (f"{path}: {platform} export without a {canon} column: expected "
            f"{' or '.join(repr(o) for o in options)}{hint}; found: "
            f"{', '.join(h for h in heads if h)}")
