import { render } from 'preact';
import 'uplot/dist/uPlot.min.css';
import './styles.css';
import { takeTokenFromUrl } from './api';
import { App } from './app';

takeTokenFromUrl();
const root = document.getElementById('root')!;
root.textContent = ''; // the boot message
render(<App />, root);
