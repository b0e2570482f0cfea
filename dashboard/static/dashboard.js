// The dashboard's only script (no inline script: the pages' CSP forbids it).
// - Live numbers: elements marked data-live="path/in/json" are updated in place from the
//   page's data-live-source, only their text, never while the reader has selected text in
//   them; forms and scroll position are never touched. A lost connection is said, not hidden.
// - Actions: forms with data-confirm ask first; a form submits at most once.
"use strict";

(function () {
  function lookup(data, path) {
    // "/" separates the keys: job names may contain "." and ":".
    return path.split("/").reduce(function (value, key) {
      return value === undefined || value === null ? undefined : value[key];
    }, data);
  }

  function selectionTouches(element) {
    var selection = document.getSelection();
    return selection && !selection.isCollapsed && selection.containsNode(element, true);
  }

  function startLiveNumbers() {
    var source = document.querySelector("[data-live-source]");
    var seconds = Number(document.body.getAttribute("data-refresh"));
    if (!source || !seconds) {
      return;
    }
    var url = source.getAttribute("data-live-source");
    var banner = document.querySelector("[data-connection]");

    function update(data) {
      document.querySelectorAll("[data-live]").forEach(function (element) {
        var value = lookup(data, element.getAttribute("data-live"));
        var text = value === undefined ? "0" : String(value);
        if (element.textContent !== text && !selectionTouches(element)) {
          element.textContent = text;
        }
        element.classList.remove("stale");
      });
    }

    function lost() {
      if (banner) {
        banner.hidden = false;
      }
      document.querySelectorAll("[data-live]").forEach(function (element) {
        element.classList.add("stale");
      });
    }

    var inFlight = false;

    function refresh() {
      if (document.hidden || inFlight) {
        return;
      }
      // A server that accepts the connection but never answers has lost contact too.
      var controller = window.AbortController ? new AbortController() : null;
      var timer = controller && window.setTimeout(function () {
        controller.abort();
      }, Math.max(seconds * 2, 10) * 1000);
      inFlight = true;
      fetch(url, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
        signal: controller ? controller.signal : undefined
      })
        .then(function (response) {
          if (!response.ok) {
            throw new Error("HTTP " + response.status);
          }
          return response.json();
        })
        .then(function (data) {
          if (banner) {
            banner.hidden = true;
          }
          update(data);
        })
        .catch(lost)
        .then(function () {
          inFlight = false;
          window.clearTimeout(timer);
        });
    }

    window.setInterval(refresh, seconds * 1000);
  }

  function guardActions() {
    document.querySelectorAll("form[method=post]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        var question = form.getAttribute("data-confirm");
        if (form.dataset.submitted === "true" || (question && !window.confirm(question))) {
          event.preventDefault();
          return;
        }
        form.dataset.submitted = "true";
        form.querySelectorAll("button[type=submit]").forEach(function (button) {
          button.disabled = true;
        });
      });
    });
  }

  // Back to a page kept in the back/forward cache: its forms may be used again.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) {
      return;
    }
    document.querySelectorAll("form[data-submitted]").forEach(function (form) {
      delete form.dataset.submitted;
      form.querySelectorAll("button[type=submit]").forEach(function (button) {
        button.disabled = false;
      });
    });
  });

  document.addEventListener("DOMContentLoaded", function () {
    startLiveNumbers();
    guardActions();
  });
})();
