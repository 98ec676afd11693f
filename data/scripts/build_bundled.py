#!/usr/bin/env python3
"""Builds data/bundled.json, the public records ticweek ships, from the two
published notices in ../shared/notices/ (kept verbatim there).

Facts (themes, dates, document numbers, names, phones) are transcribed by hand
below, each next to the sentence of the notice it comes from; the notice
bodies are taken from the text files, with only the Markdown markers of the
PDF-to-text conversion removed. Where a notice gives a loose period, the
campaign keeps the notice's wording in `period_text` next to the derived
window (上旬 1-10, 中旬 11-20, 下旬 21-end; "9月任选一周/一天" = all of
September), and nothing more precise is invented.

Usage: python3 data/scripts/build_bundled.py [NOTICES_DIR]  (default ../shared/notices)
"""
import json
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
NOTICES = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "notices"


def clean(text: str) -> str:
    """Drop conversion artefacts (Markdown heading marks, link syntax,
    trailing spaces) and runs of blank lines; keep every word."""
    text = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", text)
    lines = [re.sub(r"^#+\s*", "", line).rstrip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


shanxi = (NOTICES / "shanxi-2024.txt").read_text(encoding="utf-8")
ganzhou_file = (NOTICES / "jiangxi-2022-ganzhou.txt").read_text(encoding="utf-8")
split_at = ganzhou_file.index("江西省市场监督管理局办公室文件")
ganzhou_body, jiangxi_body = ganzhou_file[:split_at], ganzhou_file[split_at:]

SX = "晋市监函〔2024〕209号"
JX = "赣市监办认监〔2022〕7号"
GZ = "赣市市监认监字〔2022〕12号"
SAMR_CERT = "市监认证发〔2022〕79号"
SAMR_LAB = "市监检测函〔2022〕1227号"

notices = [
    {
        "id": "shanxi-2024-209",
        "doc_number": SX,
        "title": "山西省市场监督管理局关于开展2024年度质量认证系列宣传周活动的通知",
        "issuer": "山西省市场监督管理局",
        "region": "140000",
        "issued_on": "2024-08-20",  # 落款: 2024年8月20日
        "body": clean(shanxi),
        # 联系人：省局认证处 庞雅宁 王国强 / 电 话 0351-7680283 / 邮 箱 947326948@qq.com
        "contacts": [
            {"name": "庞雅宁", "phone": "0351-7680283", "email": "947326948@qq.com"},
            {"name": "王国强", "phone": "0351-7680283", "email": "947326948@qq.com"},
        ],
        # 服务认证作品、宣传周工作总结…分别于2024年8月28日、9月28日前报送省局认证处
        "deadlines": [
            {"title": "服务认证作品报送省局认证处", "due_on": "2024-08-28"},
            {"title": "宣传周工作总结（含开展情况、活动效果、典型案例、相关图片等）报送省局认证处", "due_on": "2024-09-28"},
        ],
        "forwards": [],
        "cites": [],
        "source_url": None,
        "source": SX,
    },
    {
        "id": "jiangxi-2022-7",
        "doc_number": JX,
        "title": "江西省市场监管局办公室关于开展全省认证认可检验检测系列宣传活动的通知",
        "issuer": "江西省市场监督管理局办公室",
        "region": "360000",
        "year": 2022,
        "issued_on": None,  # the published text carries no date
        "body": clean(jiangxi_body),
        # 认监处联系人：徐芝亮 电话：0791-86355828 邮箱：jxsjrzc@amr.jiangxi.gov.cn
        "contacts": [
            {"name": "徐芝亮", "phone": "0791-86355828", "email": "jxsjrzc@amr.jiangxi.gov.cn"}
        ],
        # 按活动项目分别形成总结报告，于10月10日前报送省局认监处
        "deadlines": [
            {"title": "按活动项目分别形成总结报告报送省局认监处", "due_on": "2022-10-10"}
        ],
        "forwards": [],
        # 根据《…》（市监认证发〔2022〕79号）《…》（市监检测函〔2022〕1227号）要求
        "cites": [SAMR_CERT, SAMR_LAB],
        "source_url": None,
        "source": f"{GZ} (转发 {JX})",
    },
    {
        "id": "ganzhou-2022-12",
        "doc_number": GZ,
        "title": "关于开展全市认证认可检验检测系列宣传活动的通知",
        "issuer": "赣州市市场监督管理局",
        "region": "360700",
        "year": 2022,
        "issued_on": None,
        "body": clean(ganzhou_body),
        "contacts": [],
        # 总结材料和收集的媒体报道、音像和图片资料于 9月 30 日前报送市局认证科
        "deadlines": [
            {"title": "每项主题活动总结材料及媒体报道、音像和图片资料报送市局认证科", "due_on": "2022-09-30"}
        ],
        "forwards": [JX],
        "cites": [],
        "source_url": None,
        "source": GZ,
    },
    {
        "id": "samr-2022-79",
        "doc_number": SAMR_CERT,
        "title": "市场监管总局办公厅关于开展全国“有机产品认证宣传周”“绿色产品认证与标识宣传周”和“服务认证体验周”活动的通知",
        "issuer": "市场监管总局办公厅",
        "region": None,
        "year": 2022,
        "issued_on": None,
        "body": "",  # known only by citation; its text is not bundled
        "contacts": [],
        "deadlines": [],
        "forwards": [],
        "cites": [],
        "source_url": None,
        "source": f"cited in {JX}",
    },
    {
        "id": "samr-2022-1227",
        "doc_number": SAMR_LAB,
        "title": "市场监管总局办公厅关于开展2022年全国检验检测机构开放日活动的通知",
        "issuer": "市场监管总局办公厅",
        "region": None,
        "year": 2022,
        "issued_on": None,
        "body": "",
        "contacts": [],
        "deadlines": [],
        "forwards": [],
        "cites": [],
        "source_url": None,
        "source": f"cited in {JX}",
    },
]


def campaign(cid, kind, year, title, theme, region, starts, ends, period_text, notice_id, source):
    return {
        "id": cid, "kind": kind, "year": year, "title": title, "theme": theme,
        "region": region, "starts_on": starts, "ends_on": ends,
        "period_text": period_text, "notice_id": notice_id, "source": source,
    }


campaigns = [
    # 江西 2022 (赣市监办认监〔2022〕7号, 一、活动安排)
    campaign("jiangxi-2022-organic-week", "organic_week", 2022, "有机产品认证宣传周",
             "护航消费升级 优享品质生活", "360000", "2022-09-19", "2022-09-23", None,
             "jiangxi-2022-7", JX),  # 2022 年 9 月 19 日-9 月 23 日
    campaign("jiangxi-2022-green-week", "green_week", 2022, "绿色产品认证与标识宣传周",
             "践行双碳目标 守护绿水青山", "360000", "2022-09-26", "2022-09-30", None,
             "jiangxi-2022-7", JX),  # 2022 年 9 月 26 日-30 日
    campaign("jiangxi-2022-service-week", "service_week", 2022, "服务认证体验周",
             "服务认证促发展惠民生", "360000", "2022-09-11", "2022-09-30", "2022 年 9 月中下旬",
             "jiangxi-2022-7", JX),
    campaign("jiangxi-2022-lab-open-day", "lab_open_day", 2022, "检验检测机构开放日",
             "检验检测促进高质量发展", "360000", "2022-09-11", "2022-09-30", "2022 年 9 月中下旬",
             "jiangxi-2022-7", JX),
    # 山西 2024 (晋市监函〔2024〕209号, 一、活动安排)
    campaign("shanxi-2024-organic-week", "organic_week", 2024, "有机产品认证宣传周",
             "有机产品认证：传递信任 守护消费", "140000", "2024-08-21", "2024-08-31", "8月下旬",
             "shanxi-2024-209", SX),
    campaign("shanxi-2024-service-week", "service_week", 2024, "服务认证体验周",
             "认证推进服务业高质量发展", "140000", "2024-09-01", "2024-09-30", "9月任选一周",
             "shanxi-2024-209", SX),
    # 按照总局确定的宣传主题: the notice does not name the theme.
    campaign("shanxi-2024-green-week", "green_week", 2024, "绿色产品认证与标识宣传周",
             None, "140000", "2024-09-01", "2024-09-30", "9月任选一周",
             "shanxi-2024-209", SX),
    # No period is given for the SME action.
    campaign("shanxi-2024-sme-qms", "sme_qms", 2024, "小微企业质量管理体系认证提升行动",
             None, "140000", None, None, None, "shanxi-2024-209", SX),
    campaign("shanxi-2024-lab-open-day", "lab_open_day", 2024, "检验检测机构开放日",
             "检验检测认证助推产业优化升级", "140000", "2024-09-01", "2024-09-30", "9月任选一天",
             "shanxi-2024-209", SX),
]

out = ROOT / "data" / "bundled.json"
out.write_text(
    json.dumps({"notices": notices, "campaigns": campaigns}, ensure_ascii=False, indent=2) + "\n",
    encoding="utf-8",
)
print(f"wrote {out}: {len(notices)} notices, {len(campaigns)} campaigns")
