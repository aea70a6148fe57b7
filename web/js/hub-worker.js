// SharedWorker entry: every tab of the dashboard connects here, so the
// browser holds one connection per live feed however many tabs are open.
import { Hub } from './hub.js';

const hub = new Hub();

self.onconnect = (e) => {
  const port = e.ports[0];
  const client = { post: (m) => port.postMessage(m) };
  hub.attach(client);
  port.onmessage = (m) => {
    try {
      hub.receive(client, m.data);
    } catch (err) {
      // A worker's errors are invisible to the tabs otherwise.
      port.postMessage({ op: 'error', message: String(err && err.stack ? err.stack : err) });
    }
  };
  port.start();
};

setInterval(() => hub.sweep(), 30000);
