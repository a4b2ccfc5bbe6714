import type { Budget } from './ledger/ledger.js';

/**
 * Who is calling, as the HTTP gateway authenticated them (a static token's name, or a JWT claim).
 * Made by the transport, handed to the tools in the SDK's `extra.authInfo`, and passed down to the
 * service and the ledger; absent over stdio, where the person at the keyboard owns the ledger.
 */
export interface Principal {
  /** Recorded on every ledger row of the principal's calls and shown in logs. */
  name: string;
  /** Sees every principal's calls in `get_cost` and may group by principal. */
  admin: boolean;
  /** The principal's own caps, enforced besides the global ones. */
  budget?: Budget;
}
