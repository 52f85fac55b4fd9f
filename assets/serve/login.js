// checkuser serve: the login page. Picks the language, shows the form of the mode and the error.
(function () {
  'use strict';

  var STRINGS = {
    en: {
      title: 'Log in · checkuser',
      login_title: 'Log in',
      name: 'Name',
      password: 'Password',
      token: 'Token',
      login_button: 'Log in',
      token_explain: 'Open the address that checkuser serve printed when it started: it logs you in directly. Or paste the token from that address (the part after token=) here.',
      err_bad_login: 'Wrong name or password.',
      err_rate_limited: 'Too many attempts. Wait a minute, then try again.',
      err_bad_token: 'That token is not valid. It changes at every start of checkuser serve: use the address it printed last.',
      err_other: 'Logging in failed.'
    },
    'zh-CN': {
      title: '登录 · checkuser',
      login_title: '登录',
      name: '用户名',
      password: '密码',
      token: '令牌',
      login_button: '登录',
      token_explain: '打开 checkuser serve 启动时打印的地址即可直接登录。也可以把该地址中的令牌（token= 之后的部分）粘贴到这里。',
      err_bad_login: '用户名或密码错误。',
      err_rate_limited: '尝试次数过多，请稍等一分钟后再试。',
      err_bad_token: '令牌无效。每次启动 checkuser serve 都会生成新的令牌，请使用最近一次打印的地址。',
      err_other: '登录失败。'
    }
  };

  var i18n = checkuserI18n.translator(STRINGS);
  var lang = i18n.lang;
  var t = i18n.t;

  function init() {
    document.documentElement.lang = lang;
    document.title = t('title');
    var nodes = document.querySelectorAll('[data-i18n]');
    for (var i = 0; i < nodes.length; i++) {
      nodes[i].textContent = t(nodes[i].getAttribute('data-i18n'));
    }
    var body = document.body;
    var mode = body.getAttribute('data-mode') === 'users' ? 'users' : 'token';
    body.setAttribute('data-mode', mode);
    var usersForm = document.getElementById('users-form');
    var tokenForm = document.getElementById('token-form');
    usersForm.hidden = mode !== 'users';
    tokenForm.hidden = mode !== 'token';

    var error = body.getAttribute('data-error') || '';
    if (error && error.indexOf('{{') !== 0) {
      // In token mode a refused form is a wrong token, whatever the key.
      var key = 'err_' + (mode === 'token' && error === 'bad_login' ? 'bad_token' : error);
      var box = document.getElementById('login-error');
      document.getElementById('login-error-text').textContent =
        Object.prototype.hasOwnProperty.call(STRINGS.en, key) ? t(key) : t('err_other');
      box.hidden = false;
    }
    var first = mode === 'users' ? document.getElementById('name') : document.getElementById('token');
    if (first) first.focus();
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
})();
