// checkuser serve: the language of both pages (Simplified Chinese when the browser's first
// language is Chinese, else English) and the lookup of a text in a page's own strings.
var checkuserI18n = (function () {
  'use strict';

  function pickLanguage() {
    var langs = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || 'en'];
    var first = String(langs[0] || '').toLowerCase();
    return first.indexOf('zh') === 0 ? 'zh-CN' : 'en';
  }

  // strings: { en: {...}, 'zh-CN': {...} }. t(key, params) fills {name} from params; a key
  // missing in the language falls back to English, then to the key itself.
  function translator(strings) {
    var lang = pickLanguage();
    var dict = strings[lang];
    function t(key, params) {
      var s = Object.prototype.hasOwnProperty.call(dict, key) ? dict[key] : (strings.en[key] || key);
      if (params) {
        s = s.replace(/\{(\w+)\}/g, function (m, name) {
          return Object.prototype.hasOwnProperty.call(params, name) ? String(params[name]) : m;
        });
      }
      return s;
    }
    return { lang: lang, t: t };
  }

  return { translator: translator };
})();
