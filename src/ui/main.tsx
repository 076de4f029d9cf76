import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { useLab } from './store/use-lab';
import './app.css';

const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root element');

// A read-only view of the store for end-to-end tests and for the curious in the console.
(window as Window & { grpoLab?: { state: typeof useLab.getState } }).grpoLab = { state: useLab.getState };

createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
