// Authenticated downloads: fetch with the bearer token, save via a blob URL.
import { get } from './api.js';

export async function download(path, filename) {
  const blob = await get(path, { blob: true });
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename.replace(/[/\\]/g, '_') || 'download.bin';
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
