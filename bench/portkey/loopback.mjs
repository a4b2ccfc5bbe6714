/**
 * Preloaded into Portkey's gateway by the bench (`node --import`): its start script listens on a
 * port on every interface (`serve({ port })`, no host option), so this binds every server it
 * starts to 127.0.0.1 instead, and reports the port it got on stderr ("portkey listening on
 * 127.0.0.1:PORT"), since the script prints "localhost:<the port it was given>" even for 0.
 */
import net from 'node:net';

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' || (typeof args[0] === 'string' && /^\d+$/.test(args[0]))) {
    const callback = typeof args.at(-1) === 'function' ? args.at(-1) : undefined;
    args = [{ port: Number(args[0]), host: '127.0.0.1' }, ...(callback ? [callback] : [])];
  } else if (args[0] && typeof args[0] === 'object' && args[0].port !== undefined) {
    args[0] = { ...args[0], host: '127.0.0.1' };
  }
  this.once('listening', () => process.stderr.write(`portkey listening on 127.0.0.1:${this.address().port}\n`));
  return listen.apply(this, args);
};
