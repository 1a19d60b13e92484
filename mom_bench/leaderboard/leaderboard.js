// Sortable tables for the static leaderboard page: no libraries, no network.
// Blank cells (metrics a row does not have) always sink to the bottom, whichever the direction.
(function () {
  "use strict";

  function cellKey(row, col) {
    var cell = row.cells[col];
    if (!cell) return "";
    var key = cell.getAttribute("data-sort");
    return key === null ? cell.textContent.trim() : key;
  }

  function sortTable(table, col, header) {
    var numeric = header.getAttribute("data-type") === "num";
    var current = header.getAttribute("aria-sort");
    // numbers start high-to-low (best F1 first), text A-Z; a second click reverses
    var descending = current === "none" || current === null ? numeric : current === "ascending";
    var dir = descending ? -1 : 1;
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows).map(function (row, i) {
      return { row: row, key: cellKey(row, col), index: i };
    });
    rows.sort(function (a, b) {
      var ea = a.key === "", eb = b.key === "";
      if (ea || eb) return ea === eb ? a.index - b.index : (ea ? 1 : -1);
      var d = numeric ? parseFloat(a.key) - parseFloat(b.key) : a.key.localeCompare(b.key);
      return d === 0 ? a.index - b.index : dir * d;
    });
    rows.forEach(function (item) { body.appendChild(item.row); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      if (th.hasAttribute("aria-sort")) th.setAttribute("aria-sort", "none");
    });
    header.setAttribute("aria-sort", descending ? "descending" : "ascending");
  }

  var tables = document.querySelectorAll("table.sortable");
  Array.prototype.forEach.call(tables, function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      if (!th.hasAttribute("aria-sort")) return;
      th.addEventListener("click", function () { sortTable(table, col, th); });
    });
  });
  document.documentElement.setAttribute("data-sortable-ready", String(tables.length));
})();
