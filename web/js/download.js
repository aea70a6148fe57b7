// Authenticated downloads: fetch with the bearer token, save via a blob URL.
// `body` makes it a POST; without `filename`, the server's
// Content-Disposition name is used.
import { get, post } from './api.js';

export async function download(path, filename, body) {
  const res = body === undefined ? await get(path, { raw: true }) : await post(path, body, { raw: true });
  const blob = await res.blob();
  const given = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') || '');
  const name = filename || (given ? given[1] : '');
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name.replace(/[/\\]/g, '_') || 'download.bin';
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
