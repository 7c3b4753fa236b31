import { mount } from 'svelte';
import App from './App.svelte';
import { listenToServiceWorker } from './lib/sw-messages.ts';
import { serviceWorker } from './lib/sw-register.svelte.ts';
import './app.css';

const target = document.getElementById('app')!;
target.replaceChildren();
mount(App, { target });

listenToServiceWorker();
void serviceWorker.register();
