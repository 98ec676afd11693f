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

Events are the concrete activities each notice schedules inside a campaign
(the named counties, companies, labs, or the province-wide activities). The
notices give no times of day, addresses, URLs or coordinates, so an event
spans its campaign's whole window (`starts_at` = first day 00:00 +08:00,
`ends_at` = the day after the last day, exclusive), keeps the notice's own
wording of the period in `period_text`, and its venue is located only by
region (`precision` "region", lat/lon null: the server fills in the region
centroid).

Usage: python3 data/scripts/build_bundled.py [NOTICES_DIR]  (default ../shared/notices)
"""
import datetime
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

ACTIVITIES = {
    "lecture", "training", "site_visit", "quality_class", "expert_qa", "free_testing",
    "cloud_tour", "works_call", "lab_tour", "expert_help", "consultation", "exhibition",
}
CAMPAIGNS = {c["id"]: c for c in campaigns}


def day_after(iso_day):
    return (datetime.date.fromisoformat(iso_day) + datetime.timedelta(days=1)).isoformat()


def event(eid, campaign_id, title, description, activities, period_text, region, organizer,
          attendance, source, venue_name=None, window=None):
    """One scheduled activity. Its window is its campaign's (first day 00:00
    to the day after the last day 00:00, +08:00) unless `window` gives the
    (first day, last day) the notice states for this activity."""
    assert re.fullmatch(r"[a-z0-9-]{1,64}", eid), eid
    assert set(activities) <= ACTIVITIES, activities
    first, last = window or (CAMPAIGNS[campaign_id]["starts_on"], CAMPAIGNS[campaign_id]["ends_on"])
    return {
        "id": eid, "campaign_id": campaign_id, "title": title, "description": description,
        "activities": list(activities),
        "starts_at": f"{first}T00:00:00+08:00", "ends_at": f"{day_after(last)}T00:00:00+08:00",
        "period_text": period_text,
        "venue": {"name": venue_name, "address": None, "lat": None, "lon": None, "precision": "region"},
        "region": region, "organizer": organizer, "online_url": None,
        "attendance": attendance, "status": "scheduled", "source": source,
    }


# 江西 2022, 一（一）有机产品认证宣传周, 活动时间：2022 年 9 月 19 日-9 月 23 日
# 省局组织专家前往获得国家有机产品认证示范创建区的彭泽县、瑞金市、信丰县、靖安县、奉新县、
# 宜黄县、广昌县等部分县市，为当地企业和农户宣传有机产品认证知识，开展技术帮扶，指导企业加强
# 有机生产管理，规范有机产品标志标识使用。
# The notice names the counties but no site in them, so the county is the
# region and the venue has no name.
JX_ORGANIC_COUNTIES = [
    ("pengze", "彭泽县", "360430"),
    ("ruijin", "瑞金市", "360781"),
    ("xinfeng", "信丰县", "360722"),
    ("jingan", "靖安县", "360925"),
    ("fengxin", "奉新县", "360921"),
    ("yihuang", "宜黄县", "361026"),
    ("guangchang", "广昌县", "361030"),
]

events = [
    event(f"jiangxi-2022-organic-expert-visit-{slug}", "jiangxi-2022-organic-week",
          f"省局组织专家赴{name}宣传有机产品认证知识",
          f"省局组织专家前往获得国家有机产品认证示范创建区的{name}，为当地企业和农户宣传有机产品认证知识，"
          "开展技术帮扶，指导企业加强有机生产管理，规范有机产品标志标识使用。",
          ["lecture", "expert_help"], "2022 年 9 月 19 日-9 月 23 日", adcode,
          "江西省市场监督管理局", "offline", JX)
    for slug, name, adcode in JX_ORGANIC_COUNTIES
]

events += [
    # 一（二）绿色产品认证与标识宣传周, 活动时间：2022 年 9 月 26 日-30 日
    # 省局组织专家深入园区中小企业开展上门服务… (no park is named: province-wide)
    event("jiangxi-2022-green-expert-sme-service", "jiangxi-2022-green-week",
          "省局组织专家深入园区中小企业上门服务",
          "省局组织专家深入园区中小企业开展上门服务，宣传绿色产品认证知识，帮助解决中小企业在质量提升、"
          "节能减排等方面的问题和困难，推动企业加强全面质量管理，促进绿色产品认证工作。",
          ["expert_help", "lecture"], "2022 年 9 月 26 日-30 日", "360000",
          "江西省市场监督管理局", "offline", JX),
    # 一（三）服务认证体验周, 活动时间：2022 年 9 月中下旬
    # （1）参观体验活动。省局、南昌市局联合开展环保服务企业现场体验活动，组织市民、专家、媒体参观
    # 江西金达莱环保股份有限公司… The region is 南昌市 because 南昌市局 co-organizes it.
    event("jiangxi-2022-service-jindalai-visit", "jiangxi-2022-service-week",
          "环保服务企业现场体验活动：参观江西金达莱环保股份有限公司",
          "省局、南昌市局联合开展环保服务企业现场体验活动，组织市民、专家、媒体参观江西金达莱环保股份有限公司，"
          "了解环境保护服务质量认证在实现企业发展目标、推动“美丽江西”建设、提升人居环境质量等方面的积极作用。",
          ["site_visit"], "2022 年 9 月中下旬", "360100",
          "江西省市场监督管理局、南昌市市场监督管理局", "offline", JX,
          venue_name="江西金达莱环保股份有限公司"),
    # （2）宣传培训活动。省局、赣州市局联合开展广告行业质量管理培训。采取线上线下相结合方式…
    event("jiangxi-2022-service-ganzhou-ad-training", "jiangxi-2022-service-week",
          "广告行业质量管理培训",
          "省局、赣州市局联合开展广告行业质量管理培训。采取线上线下相结合方式，在赣州市组织本市广告企业线下培训，"
          "同时组织全省广告从业人员、监管人员参加线上培训，推动广告行业提高服务质量。",
          ["training"], "2022 年 9 月中下旬", "360700",
          "江西省市场监督管理局、赣州市市场监督管理局", "mixed", JX),
]

# 一（四）检验检测开放日, 活动时间：2022 年 9 月中下旬; 省局组织三家检验检测机构向公众开放。
# The notice gives no address for the three labs. Region 南昌市 is inferred
# from the institutions themselves (the two 江西省检验检测认证总院 institutes
# and 南昌大学 are seated in Nanchang), not stated by the notice.
events += [
    event("jiangxi-2022-lab-open-industrial-institute", "jiangxi-2022-lab-open-day",
          "江西省检验检测认证总院工业产品检验检测院开放活动",
          "重点开放总院工业院电子信息产品检验中心，开展质量小课堂、专家答疑等活动，促进公众对 VR 技术、"
          "电磁兼容性、电气安全测试等相关知识的了解。",
          ["lab_tour", "quality_class", "expert_qa"], "2022 年 9 月中下旬", "360100",
          "江西省市场监督管理局", "offline", JX,
          venue_name="江西省检验检测认证总院工业产品检验检测院"),
    event("jiangxi-2022-lab-open-food-institute", "jiangxi-2022-lab-open-day",
          "江西省检验检测认证总院食品检验检测研究院开放活动",
          "通过请进来与走出去相结合的方式，邀请社区居民参观食品检测实验室，安排专业技术人员进社区、进农贸市场，"
          "宣传食品安全知识，对社区居民采购的日常家用新鲜蔬菜样品开展快检活动。",
          ["lab_tour", "lecture", "free_testing"], "2022 年 9 月中下旬", "360100",
          "江西省市场监督管理局", "offline", JX,
          venue_name="江西省检验检测认证总院食品检验检测研究院"),
    event("jiangxi-2022-lab-open-ncu-cloud-class", "jiangxi-2022-lab-open-day",
          "南昌大学食品科学与技术国家重点实验室开放活动：农兽药残留检测云课堂",
          "针对越来越多的人关心关注农兽药残留问题，聘请专家学者开设云课堂，讲授国家禁用但仍被非法使用的相关药物"
          "检测方法新进展，指导相关企业和机构在相同检测经费的情况下检测更多样本，扩大监管范围，提升检测准确率，"
          "从源头守牢食品安全。",
          ["lecture"], "2022 年 9 月中下旬", "360100",
          "江西省市场监督管理局", "online", JX,
          venue_name="南昌大学食品科学与技术国家重点实验室"),
]

# 山西 2024 (晋市监函〔2024〕209号, 一、活动安排): province-wide activities run by
# 全省各级市场监管部门 (and the certification bodies where the notice names them).
events += [
    # （一）8月下旬 … 组织有机产品认证知识讲解、技能培训和技术服务，推动有机产品进农户、进商超、进社区
    event("shanxi-2024-organic-week-outreach", "shanxi-2024-organic-week",
          "有机产品认证知识讲解、技能培训和技术服务",
          "深入产地指导开展有机产品认证等活动，组织有机产品认证知识讲解、技能培训和技术服务，推动有机产品进农户、"
          "进商超、进社区，促进有机产品产供销对接，面向全社会开展广泛宣传。",
          ["lecture", "training", "expert_help"], "8月下旬", "140000",
          "山西省各级市场监督管理部门、各有机产品认证机构", "offline", SX),
    # （二）9月任选一周 … 组织开展服务认证系列体验活动，邀请…社会各方代表进行现场体验
    event("shanxi-2024-service-experience", "shanxi-2024-service-week",
          "服务认证系列体验活动",
          "组织开展服务认证系列体验活动，邀请人大代表、政协委员、消费者、新闻媒体、企业等社会各方代表进行现场体验，"
          "增强服务认证的社会认知。",
          ["site_visit"], "9月任选一周", "140000",
          "山西省各级市场监督管理部门、认证机构", "offline", SX),
    # 开展服务认证作品征集活动 … 服务认证作品…于2024年8月28日…前报送省局认证处.
    # Window: from the notice's date (2024年8月20日) to that deadline. The works
    # are sent to 省局认证处, hence the organizer; attendance "online" because
    # a call for works is answered by submission, not by attending a place.
    event("shanxi-2024-service-works-call", "shanxi-2024-service-week",
          "服务认证作品征集活动",
          "开展服务认证作品征集活动，支持获证组织、认证机构、有关协会踊跃报送服务认证作品，总局将选取优良作品作为"
          "“服务认证体验周”活动启动仪式项目。服务认证作品于2024年8月28日前报送省局认证处。",
          ["works_call"], "2024年8月28日前报送", "140000",
          "山西省市场监督管理局", "online", SX,
          window=("2024-08-20", "2024-08-28")),
    # （三）9月任选一周 … 普及绿色产品认证相关知识，分享绿色产品认证成功经验和良好实践
    event("shanxi-2024-green-week-outreach", "shanxi-2024-green-week",
          "普及绿色产品认证知识、分享成功经验和良好实践",
          "开展百姓喜闻乐见、贴近群众生活的各项活动，普及绿色产品认证相关知识，分享绿色产品认证成功经验和良好实践，"
          "倡导绿色低碳的生产方式和生活方式，提升绿色产品认证的知晓度和美誉度。",
          ["lecture", "exhibition"], "9月任选一周", "140000",
          "山西省各级市场监督管理部门、认证机构", "offline", SX),
    # （四）小微企业质量管理体系认证提升行动: no event, the notice gives it no
    # period (its campaign has no window either).
    # （五）9月任选一天 … 组织辖区有条件的检验检测机构向社会开放 … 组织开展质量小课堂、专家答疑、
    # 便民检测、云参观和专家帮扶等活动. Mixed: visitors walk into the labs, and 云参观 is online.
    event("shanxi-2024-lab-open-day-open-labs", "shanxi-2024-lab-open-day",
          "检验检测机构向社会开放",
          "组织辖区有条件的检验检测机构向社会开放，邀请企业、学生及群众代表走进实验室，展示各类检验检测设备和检测技术。"
          "组织开展质量小课堂、专家答疑、便民检测、云参观和专家帮扶等活动。",
          ["lab_tour", "quality_class", "expert_qa", "free_testing", "cloud_tour", "expert_help"],
          "9月任选一天", "140000",
          "山西省各级市场监督管理部门", "mixed", SX),
]

assert len({e["id"] for e in events}) == len(events)


def lab(lid, name, fields, session):
    """A lab the notice names. It gives no address, CMA number, phone or
    website, so those stay empty, and the point is 南昌市's centroid with
    precision "region" (seat inferred from the institutions, as above)."""
    assert re.fullmatch(r"[a-z0-9-]{1,64}", lid), lid
    return {
        "id": lid, "name": name, "cma_no": None, "cnas_no": None, "fields": fields,
        "address": None, "region": "360100", "lat": None, "lon": None, "precision": "region",
        "phone": None, "website": None, "open_days": [session], "source": JX,
    }


def session(sid, event_id, description, activities, audience, online_url=None):
    """The lab's open day: the event's window and wording; booking unknown."""
    e = next(e for e in events if e["id"] == event_id)
    assert set(activities) <= ACTIVITIES, activities
    return {
        "id": sid, "event_id": event_id, "starts_at": e["starts_at"], "ends_at": e["ends_at"],
        "period_text": e["period_text"], "description": description, "activities": activities,
        "audience": audience, "capacity": None,
        "booking": {"required": None, "url": None, "phone": None},
        "online_url": online_url, "status": "scheduled",
    }


# 一（四）3. 活动内容 (1)–(3): the three labs and what each offers.
labs = [
    lab("jiangxi-tic-industrial-institute", "江西省检验检测认证总院工业产品检验检测院",
        ["electronics", "emc", "electrical_safety"],
        session("jiangxi-2022-open-day-industrial-institute", "jiangxi-2022-lab-open-industrial-institute",
                "重点开放总院工业院电子信息产品检验中心，开展质量小课堂、专家答疑等活动，促进公众对 VR 技术、"
                "电磁兼容性、电气安全测试等相关知识的了解。",
                ["lab_tour", "quality_class", "expert_qa"], "公众")),
    lab("jiangxi-tic-food-institute", "江西省检验检测认证总院食品检验检测研究院", ["food"],
        session("jiangxi-2022-open-day-food-institute", "jiangxi-2022-lab-open-food-institute",
                "邀请社区居民参观食品检测实验室，安排专业技术人员进社区、进农贸市场，宣传食品安全知识，"
                "对社区居民采购的日常家用新鲜蔬菜样品开展快检活动。",
                ["lab_tour", "lecture", "free_testing"], "社区居民")),
    lab("ncu-food-science-state-key-lab", "南昌大学食品科学与技术国家重点实验室", ["food"],
        session("jiangxi-2022-open-day-ncu-cloud-class", "jiangxi-2022-lab-open-ncu-cloud-class",
                "聘请专家学者开设云课堂，讲授国家禁用但仍被非法使用的相关药物检测方法新进展，指导相关企业和机构"
                "在相同检测经费的情况下检测更多样本，扩大监管范围，提升检测准确率。",
                ["lecture"], "相关企业和机构")),
]

out = ROOT / "data" / "bundled.json"
out.write_text(
    json.dumps({"notices": notices, "campaigns": campaigns, "events": events, "labs": labs},
               ensure_ascii=False, indent=2) + "\n",
    encoding="utf-8",
)
print(f"wrote {out}: {len(notices)} notices, {len(campaigns)} campaigns, {len(events)} events, "
      f"{len(labs)} labs")
