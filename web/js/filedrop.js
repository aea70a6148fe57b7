// "Drop a file into a decky": a small form reading a local file (or text)
// into base64 for POST /deckies/files.
import { post } from './api.js';
import { h, act, field } from './ui.js';

export function fileDropForm(decky, topologyId, onDone) {
  const path = h('input', { name: 'path', required: true, placeholder: '/home/admin/notes.txt', value: '/root/passwords.txt' });
  const file = h('input', { name: 'file', type: 'file' });
  const text = h('textarea', { name: 'text', rows: 3, placeholder: 'or type the content here' });
  const mode = h('input', { name: 'mode', value: '644', size: 4, pattern: '[0-7]{3,4}' });
  const overwrite = h('input', { name: 'overwrite', type: 'checkbox' });
  const btn = h('button', { type: 'submit', class: 'primary' }, 'Drop file');
  const form = h('form', { class: 'stack drop-form' },
    h('h3', null, `Drop a file into ${decky}`),
    field('Path in the decky', path), field('Local file', file), field('Content', text),
    h('div', { class: 'row' }, field('Mode (octal)', mode), h('label', { class: 'check' }, overwrite, ' overwrite')),
    h('div', { class: 'row end' }, h('button', { type: 'button', on: { click: () => onDone(false) } }, 'Cancel'), btn));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    let bytes;
    if (file.files[0]) bytes = new Uint8Array(await file.files[0].arrayBuffer());
    else bytes = new TextEncoder().encode(text.value);
    let bin = '';
    for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    const body = { decky_name: decky, path: path.value, content_b64: btoa(bin), mode: parseInt(mode.value, 8) || 0o644, overwrite: overwrite.checked };
    if (topologyId) body.topology_id = topologyId;
    try {
      await act(btn, () => post('/deckies/files', body), `Dropped ${path.value} into ${decky}`);
      onDone(true);
    } catch { /* toast shown */ }
  });
  return form;
}
