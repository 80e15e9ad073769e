// The admin console's statistics section: sending per day and per tag (/v1/stats/sending) and
// inbound volume and verdicts per day (/v1/stats/inbound) over the last 14 days (UTC), drawn by
// admin_charts.js with every day shown, days without mail as zeros.
(function () {
  "use strict";
  const api = Postern.api, $ = Postern.ui.$;

  const DAY = 86400000;

  function lastDays(n) {
    const today = Date.parse(new Date().toISOString().slice(0, 10));
    const out = [];
    for (let i = n - 1; i >= 0; i--) out.push(new Date(today - i * DAY).toISOString().slice(0, 10));
    return out;
  }

  function seriesOf(rows, keyOf, categories, fields) {
    const byKey = new Map(rows.map(function (r) {
      return [keyOf(r), r];
    }));
    return fields.map(function (f) {
      return {
        name: f[1],
        values: categories.map(function (c) {
          const r = byKey.get(c);
          return r ? r[f[0]] : 0;
        }),
      };
    });
  }

  const SENT_FIELDS = [["sent", "sent"], ["delivered", "delivered"], ["bounced", "bounced"], [
    "complained",
    "complained",
  ], ["opened", "opened"]];

  async function loadStats() {
    const days = lastDays(14);
    const range = "from=" + days[0] + "&to=" + days[days.length - 1];
    const [byDay, byTag, inbound] = await Promise.all([
      api("GET", "/v1/stats/sending?groupBy=day&" + range),
      api("GET", "/v1/stats/sending?groupBy=tag&" + range),
      api("GET", "/v1/stats/inbound?" + range),
    ]);
    const tags = byTag.rows.map(function (r) {
      return r.key;
    });
    $("stats-charts").replaceChildren(
      Postern.charts.bars({
        id: "chart-sent-day",
        title: "Transactional mail per day (last 14 days)",
        description: "Sent, delivered, bounced, complained and opened messages per day.",
        categoryLabel: "Day",
        unit: "days",
        categories: days,
        series: seriesOf(
          byDay.rows,
          function (r) {
            return r.key;
          },
          days,
          SENT_FIELDS,
        ),
      }),
      Postern.charts.bars({
        id: "chart-sent-tag",
        title: "Transactional mail per tag (last 14 days)",
        description: "The same counts per tag.",
        categoryLabel: "Tag",
        unit: "tags",
        categories: tags,
        series: seriesOf(
          byTag.rows,
          function (r) {
            return r.key;
          },
          tags,
          SENT_FIELDS,
        ),
      }),
      Postern.charts.bars({
        id: "chart-inbound",
        title: "Inbound mail per day (last 14 days)",
        description: "Messages received, delivered to Junk, and their DMARC and SPF verdicts.",
        categoryLabel: "Day",
        unit: "days",
        categories: days,
        series: seriesOf(
          inbound.days,
          function (r) {
            return r.day;
          },
          days,
          [["received", "received"], ["junk", "junk"], ["dmarcPass", "DMARC pass"], [
            "dmarcFail",
            "DMARC fail",
          ], ["spfFail", "SPF fail"]],
        ),
      }),
    );
  }

  Postern.adminStats = loadStats;
})();
