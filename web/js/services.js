// The "+ Service" picker: the service catalogue, less what the decky runs.
import { get } from './api.js';
import { dialog } from './ui.js';

let catalogue = null;
let noCatalogueRoute = false;

// Service names the engine can run. From `GET /services` when the API has
// it; otherwise the services running somewhere in the fleet (a partial
// list, so the picker then also takes a typed name).
export async function serviceCatalogue() {
  if (catalogue) return catalogue;
  try {
    if (noCatalogueRoute) throw new Error('no catalogue route');
    const list = await get('/services', { expectError: true });
    catalogue = { names: list.map((s) => (typeof s === 'string' ? s : s.name)).sort(), complete: true };
  } catch {
    noCatalogueRoute = true;
    const deckies = await get('/deckies').catch(() => []);
    const names = [...new Set(deckies.flatMap((d) => d.services.map((s) => s.name)))].sort();
    return { names, complete: false };
  }
  return catalogue;
}

// Asks which service to add to `decky` (running `have`); the name or null.
export async function pickService(decky, have) {
  const cat = await serviceCatalogue();
  const free = cat.names.filter((n) => !have.includes(n));
  const r = await dialog(`Add a service to ${decky}`, [cat.complete
    ? { name: 'name', label: 'Service', type: 'select', options: free }
    : { name: 'name', label: 'Service', type: 'combo', options: free, required: true, hint: 'Suggestions are the services running elsewhere in the fleet; any catalogue name works.' }], 'Add');
  const name = r && r.name.trim();
  return name || null;
}
