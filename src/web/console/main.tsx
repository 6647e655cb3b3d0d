import { render } from 'preact';
import '../shared/style.css';
import { App } from './app.js';

render(<App />, document.getElementById('app')!);
