/*! ticweek embeddable widget: upcoming Quality Month events and lab open days.
 *
 * <script src="https://API-HOST/embed/events.js" data-region="360000"></script>
 *
 * data-region  adcode: that division and everything below it (optional)
 * data-kind    organic_week | green_week | service_week | lab_open_day | sme_qms:
 *              events of that campaign kind only; open days are listed when
 *              it is absent or lab_open_day (optional)
 * data-limit   items per list, 1–20 (default 5)
 * data-href    link for an event, `{id}` replaced by its id, e.g.
 *              "https://portal.example/events/{id}" (default: the event's
 *              online URL, if any; otherwise no link)
 * data-target  CSS selector of the element to render into (default: right
 *              after this script element)
 *
 * Renders a labelled <section> with semantic lists, in Chinese; inherits the
 * page's font and colours; talks only to the API that served this file; puts
 * every text in with textContent, never as markup.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) return;
  var api = new URL(script.src, document.baseURI).origin;
  var data = script.dataset;
  var limit = Math.min(20, Math.max(1, parseInt(data.limit, 10) || 5));
  var showOpenDays = !data.kind || data.kind === "lab_open_day";
  var serial = (window.__ticweekWidgets = (window.__ticweekWidgets || 0) + 1);
  var id = "ticweek-widget-" + serial;

  var KINDS = {
    organic_week: "有机产品认证宣传周",
    green_week: "绿色产品认证与标识宣传周",
    service_week: "服务认证体验周",
    lab_open_day: "检验检测机构开放日",
    sme_qms: "小微企业质量管理体系认证提升行动"
  };
  var ACTIVITIES = {
    lecture: "讲座", training: "培训", site_visit: "实地参观", quality_class: "质量小课堂",
    expert_qa: "专家答疑", free_testing: "免费检测", cloud_tour: "云参观", works_call: "作品征集",
    lab_tour: "实验室参观", expert_help: "专家帮扶", consultation: "咨询", exhibition: "展览"
  };
  var STATUS = { postponed: "已延期", cancelled: "已取消", completed: "已结束" };

  // Dates are Asia/Shanghai whatever the reader's clock says.
  var day = new Intl.DateTimeFormat("zh-CN", { timeZone: "Asia/Shanghai", month: "long", day: "numeric", weekday: "short" });
  var dayOfYear = new Intl.DateTimeFormat("zh-CN", { timeZone: "Asia/Shanghai", year: "numeric", month: "long", day: "numeric", weekday: "short" });
  var clock = new Intl.DateTimeFormat("zh-CN", { timeZone: "Asia/Shanghai", hour: "2-digit", minute: "2-digit", hour12: false });
  var isoDay = new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit" });

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    for (var name in attrs || {}) node.setAttribute(name, attrs[name]);
    if (text != null) node.textContent = text;
    return node;
  }

  var today = isoDay.format(new Date());

  // The year is said only when it is not this one.
  function date(d) {
    return (isoDay.format(d).slice(0, 4) === today.slice(0, 4) ? day : dayOfYear).format(d);
  }

  function when(startsAt, endsAt) {
    var start = new Date(startsAt), end = new Date(endsAt);
    var text = date(start) + " " + clock.format(start);
    text += isoDay.format(start) === isoDay.format(end)
      ? "–" + clock.format(end)
      : " 至 " + date(end);
    return el("time", { datetime: startsAt }, text);
  }

  function link(href, text, label) {
    var a = el("a", { href: href, class: "ticweek-link" }, text);
    if (label) a.setAttribute("aria-label", label);
    if (new URL(href, document.baseURI).origin !== location.origin) a.setAttribute("rel", "noopener");
    return a;
  }

  function eventItem(e) {
    var li = el("li", { class: "ticweek-item", "data-id": e.id });
    var heading = el("h4", { class: "ticweek-title" });
    var href = data.href ? data.href.split("{id}").join(encodeURIComponent(e.id)) : e.online_url;
    heading.appendChild(href ? link(href, e.title) : document.createTextNode(e.title));
    li.appendChild(heading);
    var meta = el("p", { class: "ticweek-meta" });
    meta.appendChild(when(e.starts_at, e.ends_at));
    var place = [e.region && e.region.name, e.venue && e.venue.name].filter(Boolean).join(" · ");
    meta.appendChild(document.createTextNode(" · " + (KINDS[e.kind] || e.kind) + (place ? " · " + place : "")));
    if (STATUS[e.status]) meta.appendChild(el("strong", { class: "ticweek-status" }, " " + STATUS[e.status]));
    li.appendChild(meta);
    return li;
  }

  function openDayItem(s) {
    var li = el("li", { class: "ticweek-item", "data-id": s.id });
    li.appendChild(el("h4", { class: "ticweek-title" }, s.lab.name));
    var meta = el("p", { class: "ticweek-meta" });
    meta.appendChild(when(s.starts_at, s.ends_at));
    var what = (s.activities || []).map(function (a) { return ACTIVITIES[a] || a; }).join("、");
    meta.appendChild(document.createTextNode((s.lab.address ? " · " + s.lab.address : "") + (what ? " · " + what : "")));
    if (STATUS[s.status]) meta.appendChild(el("strong", { class: "ticweek-status" }, " " + STATUS[s.status]));
    li.appendChild(meta);
    var actions = [];
    if (s.booking && s.booking.url) actions.push(link(s.booking.url, "预约", "预约：" + s.lab.name + " " + date(new Date(s.starts_at))));
    else if (s.booking && s.booking.phone) actions.push(el("span", null, "预约电话 " + s.booking.phone));
    if (s.online_url) actions.push(link(s.online_url, "云参观", "云参观：" + s.lab.name));
    if (actions.length) {
      var p = el("p", { class: "ticweek-actions" });
      actions.forEach(function (a, i) { if (i) p.appendChild(document.createTextNode(" ")); p.appendChild(a); });
      li.appendChild(p);
    }
    return li;
  }

  function list(section, title, path, params, item, empty) {
    var headingId = id + "-" + path.replace(/\W/g, "");
    var block = el("div", { class: "ticweek-block" });
    block.appendChild(el("h3", { id: headingId }, title));
    var ul = el("ul", { class: "ticweek-list", "aria-labelledby": headingId });
    block.appendChild(ul);
    section.appendChild(block);
    var query = new URLSearchParams(params);
    return fetch(api + "/api/v1/" + path + "?" + query, { headers: { Accept: "application/json" }, credentials: "omit" })
      .then(function (r) {
        if (!r.ok) throw new Error(path + ": HTTP " + r.status);
        return r.json();
      })
      .then(function (page) {
        page.items.forEach(function (x) { ul.appendChild(item(x)); });
        if (!page.items.length) block.appendChild(el("p", { class: "ticweek-empty" }, empty));
        return page.items.length;
      });
  }

  var style = "ticweek-widget-style";
  if (!document.getElementById(style)) {
    var css = el("style", { id: style });
    css.textContent =
      ".ticweek-widget{font:inherit;color:inherit;line-height:1.5}" +
      ".ticweek-widget h2{font-size:1.25em;margin:0 0 .5em}" +
      ".ticweek-widget h3{font-size:1.1em;margin:.75em 0 .25em}" +
      ".ticweek-widget h4{font-size:1em;margin:0}" +
      ".ticweek-list{list-style:none;margin:0;padding:0}" +
      ".ticweek-item{padding:.5em 0;border-bottom:1px solid rgba(127,127,127,.3)}" +
      ".ticweek-meta,.ticweek-actions,.ticweek-empty{margin:.2em 0 0;font-size:.9em}" +
      ".ticweek-link{color:inherit;text-decoration:underline}" +
      ".ticweek-link:focus-visible{outline:2px solid currentColor;outline-offset:2px}" +
      ".ticweek-sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}";
    document.head.appendChild(css);
  }

  var section = el("section", { class: "ticweek-widget", id: id, "aria-labelledby": id + "-title", "aria-busy": "true" });
  section.appendChild(el("h2", { id: id + "-title" }, data.kind && KINDS[data.kind] ? KINDS[data.kind] : "质量月活动"));
  // Read out by screen readers when the lists arrive; not shown.
  var status = el("p", { class: "ticweek-sr", role: "status" }, "正在加载…");
  section.appendChild(status);
  var target = data.target && document.querySelector(data.target);
  if (target) target.appendChild(section);
  else script.parentNode.insertBefore(section, script.nextSibling);

  var common = { limit: String(limit) };
  if (data.region) common.region = data.region;
  var events = Object.assign({ from: today }, common);
  if (data.kind) events.kind = data.kind;
  var loads = [list(section, "近期活动", "events", events, eventItem, "暂无即将举行的活动")];
  if (showOpenDays) loads.push(list(section, "实验室开放日", "open-days", common, openDayItem, "暂无即将开放的实验室"));

  Promise.all(loads)
    .then(function (counts) {
      var total = counts.reduce(function (a, b) { return a + b; }, 0);
      status.textContent = "已加载 " + total + " 项";
    })
    .catch(function () {
      status.className = "ticweek-empty";
      status.textContent = "活动信息暂时无法加载，请稍后再试。";
    })
    .then(function () { section.setAttribute("aria-busy", "false"); });
})();
