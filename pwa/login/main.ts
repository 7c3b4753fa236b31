import { mount } from 'svelte';
import Login from './Login.svelte';
import './login.css';

// TVs (and their browsers) get larger type and targets: read from 3 metres away, driven by a remote.
if (/SMART-TV|SmartTV|Tizen|Web0S|webOS|BRAVIA|AFT[A-Z]|Android TV|GoogleTV|CrKey|HbbTV|\bTV\b/i.test(navigator.userAgent)) {
  document.documentElement.classList.add('tv');
}

mount(Login, { target: document.getElementById('login')! });
