"""PDF rendering of a `Report` with ReportLab (platypus): key metrics with sparklines, insights, actions,
charts and tables. Every text goes through `escape_pdf_markup` before it becomes a Paragraph: Paragraph text
is XML-like markup, so an unescaped `<b>` in a user-typed prompt would be interpreted (or crash the build)."""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Image, KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from hitcraft_assets.reports.daily import Report
from hitcraft_assets.reports.formatting import escape_pdf_markup as esc
from hitcraft_assets.reports.rendering import report_view

PAGE_MARGIN = 16 * mm
CONTENT_WIDTH = A4[0] - 2 * PAGE_MARGIN
HEADER_BACKGROUND = colors.HexColor("#f3f6fa")
GRID_COLOR = colors.HexColor("#d8dee6")
MUTED = colors.HexColor("#5b6b7c")
ACCENT = colors.HexColor("#1f4e79")
UNICODE_FONT = "DejaVuSans"


def render_pdf(report: Report, *, font: str | None = None, compress: bool = True) -> bytes:
    """The report as PDF bytes (A4). `font`: a registered ReportLab font family; default DejaVu Sans (shipped
    with matplotlib; covers far more scripts than the standard Helvetica, which falls back when it is missing).
    `compress`: deflate the page streams (off only to inspect the PDF)."""
    family = font or _unicode_family() or "Helvetica"
    styles = _styles(family)
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=PAGE_MARGIN,
        rightMargin=PAGE_MARGIN,
        topMargin=PAGE_MARGIN,
        bottomMargin=PAGE_MARGIN,
        title=report.title,
        author="HitCraft Analytics",
        pageCompression=1 if compress else 0,
    )
    footer = f"{report.title} · data through {report.as_of}"

    def draw_footer(canvas, doc) -> None:
        canvas.saveState()
        canvas.setFont(family, 7)
        canvas.setFillColor(MUTED)
        canvas.drawString(PAGE_MARGIN, 9 * mm, footer[:120])
        canvas.drawRightString(A4[0] - PAGE_MARGIN, 9 * mm, f"page {doc.page}")
        canvas.restoreState()

    document.build(_story(report, styles), onFirstPage=draw_footer, onLaterPages=draw_footer)
    return buffer.getvalue()


def _story(report: Report, styles: dict[str, ParagraphStyle]) -> list:
    view = report_view(report)
    story: list = [
        Paragraph(esc(view["title"]), styles["title"]),
        Paragraph(esc(f"Data through {view['as_of']} · key metrics {view['comparison_label']}"), styles["muted"]),
        Spacer(1, 4 * mm),
    ]
    if view["summary"]:
        story.append(Paragraph("Executive summary", styles["h2"]))
        story.append(Paragraph(esc(view["summary"]), styles["body"]))
        if view["summary_source"] == "claude":
            note = "Written by Claude from the structured findings; every number checked against the evidence."
            story.append(Paragraph(note, styles["muted"]))
    story.append(Paragraph(esc(f"Key metrics ({view['comparison_label']})"), styles["h2"]))
    story.append(_key_metric_table(report, view, styles))
    story.append(Paragraph("High-impact insights", styles["h2"]))
    if not view["insights"]:
        story.append(Paragraph("No insight passed the tests for this period.", styles["body"]))
    for insight in view["insights"]:
        heading = f"{insight['number']}. {esc(insight['type_label'].upper())}: {esc(insight['title'])}"
        story.append(
            KeepTogether(
                [
                    Paragraph(heading, styles["h3"]),
                    Paragraph(esc(insight["statement"]), styles["body"]),
                    Paragraph("Evidence: " + esc(insight["evidence"]), styles["muted"]),
                    Spacer(1, 2 * mm),
                ]
            )
        )
    if view["actions"]:
        story.append(Paragraph("Recommended actions", styles["h2"]))
        for action in view["actions"]:
            text = f"{action['number']}. <b>{esc(action['kind_label'])}:</b> {esc(action['action'])}"
            block = [Paragraph(text, styles["body"])]
            if action["details"]:
                block.append(Paragraph(esc(action["details"]), styles["indented"]))
            story.append(KeepTogether(block))
    for chart in report.charts:
        story.append(KeepTogether(_chart(chart.png, chart.title, chart.caption, styles)))
    for table in view["tables"]:
        story.append(Paragraph(esc(table["title"]), styles["h2"]))
        story.append(_table(table["columns"], table["rows"], styles))
        if table["note"]:
            story.append(Paragraph(esc(table["note"]), styles["muted"]))
    if view["notes"]:
        story.append(Paragraph("Notes", styles["h2"]))
        story.extend(Paragraph("• " + esc(note), styles["body"]) for note in view["notes"])
    return story


def _key_metric_table(report: Report, view: dict, styles: dict[str, ParagraphStyle]) -> Table:
    daily = bool(view["day_header"])
    header = (
        ["Metric"] + ([view["day_header"]] if daily else []) + [view["window_header"], "Change", "95 % CI", "p", ""]
    )
    rows = [[Paragraph(esc(h), styles["cell_bold"]) for h in header]]
    for metric, shown in zip(report.key_metrics, view["key_metrics"]):
        values = ([shown["day_value"]] if daily else []) + [shown["window_value"], shown["change"]]
        cells = [Paragraph(esc(shown["label"]), styles["cell"])]
        cells += [Paragraph(esc(v), styles["cell_right"]) for v in values]
        cells += [Paragraph(esc(shown["interval"]), styles["cell"]), Paragraph(esc(shown["p"]), styles["cell"])]
        cells.append(Image(io.BytesIO(metric.sparkline), 26 * mm, 6.5 * mm) if metric.sparkline else "")
        rows.append(cells)
    widths = [42 * mm] + ([20 * mm] if daily else []) + [22 * mm, 18 * mm, 28 * mm, 17 * mm]
    widths.append(CONTENT_WIDTH - sum(widths))
    table = Table(rows, colWidths=widths, repeatRows=1)
    table.setStyle(_grid_style())
    return table


def _table(columns: list[str], rows: list[list[str]], styles: dict[str, ParagraphStyle]) -> Table:
    data = [[Paragraph(esc(c), styles["cell_bold"]) for c in columns]]
    data += [[Paragraph(esc(cell), styles["cell"]) for cell in row] for row in rows]
    table = Table(data, colWidths=[CONTENT_WIDTH / max(len(columns), 1)] * len(columns), repeatRows=1)
    table.setStyle(_grid_style())
    return table


def _chart(png: bytes, title: str, caption: str, styles: dict[str, ParagraphStyle]) -> list:
    width_px, height_px = ImageReader(io.BytesIO(png)).getSize()
    width = min(CONTENT_WIDTH, width_px * 0.75)  # 100 dpi PNG at ~133 % of its pixel size in points
    block = [Spacer(1, 3 * mm), Image(io.BytesIO(png), width, width * height_px / width_px)]
    block.append(Paragraph(f"<b>{esc(title)}</b>" + (f" · {esc(caption)}" if caption else ""), styles["muted"]))
    return block


def _grid_style() -> TableStyle:
    return TableStyle(
        [
            ("BACKGROUND", (0, 0), (-1, 0), HEADER_BACKGROUND),
            ("LINEBELOW", (0, 0), (-1, -1), 0.4, GRID_COLOR),
            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ("TOPPADDING", (0, 0), (-1, -1), 2),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
            ("LEFTPADDING", (0, 0), (-1, -1), 3),
            ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ]
    )


def _styles(family: str) -> dict[str, ParagraphStyle]:
    bold = _bold_name(family)
    base = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=base["BodyText"], fontName=family, fontSize=9.5, leading=12.5)
    return {
        "title": ParagraphStyle("title", parent=base["Title"], fontName=bold, fontSize=17, leading=21, alignment=0,
                                textColor=ACCENT, spaceAfter=2),
        "h2": ParagraphStyle("h2", parent=base["Heading2"], fontName=bold, fontSize=12.5, leading=16, spaceBefore=8,
                             spaceAfter=4, textColor=ACCENT),
        "h3": ParagraphStyle("h3", parent=body, fontName=bold, fontSize=10, leading=13, spaceBefore=4),
        "body": body,
        "indented": ParagraphStyle("indented", parent=body, leftIndent=12, textColor=MUTED, fontSize=8.5),
        "muted": ParagraphStyle("muted", parent=body, fontSize=8, leading=10.5, textColor=MUTED),
        "cell": ParagraphStyle("cell", parent=body, fontSize=8, leading=10),
        "cell_right": ParagraphStyle("cell_right", parent=body, fontSize=8, leading=10, alignment=TA_RIGHT),
        "cell_bold": ParagraphStyle("cell_bold", parent=body, fontName=bold, fontSize=8, leading=10),
    }  # fmt: skip


def _bold_name(family: str) -> str:
    if family == "Helvetica":
        return "Helvetica-Bold"
    bold = f"{family}-Bold"
    return bold if bold in pdfmetrics.getRegisteredFontNames() else family


@cache
def _unicode_family() -> str | None:
    """Register DejaVu Sans (regular, bold, italic) from matplotlib's fonts once; None when not found."""
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    faces = {"": "DejaVuSans.ttf", "-Bold": "DejaVuSans-Bold.ttf", "-Oblique": "DejaVuSans-Oblique.ttf",
             "-BoldOblique": "DejaVuSans-BoldOblique.ttf"}  # fmt: skip
    if not all((folder / name).is_file() for name in faces.values()):
        return None
    for suffix, name in faces.items():
        pdfmetrics.registerFont(TTFont(UNICODE_FONT + suffix, str(folder / name)))
    pdfmetrics.registerFontFamily(
        UNICODE_FONT,
        normal=UNICODE_FONT,
        bold=UNICODE_FONT + "-Bold",
        italic=UNICODE_FONT + "-Oblique",
        boldItalic=UNICODE_FONT + "-BoldOblique",
    )
    return UNICODE_FONT
