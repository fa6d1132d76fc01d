// Wire types of /v1/tickets and /v1/login-codes: the one-time secrets a browser needs where it can only use a
// URL (a download, an EventSource) or arrives from a terminal (`lxssd open`).

import { Type } from '@sinclair/typebox';
import { StringEnum } from './schema-helpers.js';

export const TicketBody = Type.Object(
  {
    purpose: StringEnum(['export', 'events'], {
      description: 'export: one `GET /v1/distributions/{distro}/export?format=&ticket=` (a download link); events: one `GET /v1/events?ticket=` (an EventSource)',
    }),
    distro: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'export only, and needed there: the distribution (id, name or `@default`)' })),
    format: Type.Optional(StringEnum(['tar', 'tar.gz', 'tar.xz'], { description: 'export only: the format it downloads (default tar)' })),
  },
  { $id: 'TicketRequest', additionalProperties: false, examples: [{ purpose: 'export', distro: 'Debian', format: 'tar.gz' }] },
);

export const TicketSchema = Type.Object(
  {
    ticket: Type.String({ pattern: '^lxsst_[A-Za-z0-9_-]{43}$', description: 'good for one request, on the route it was made for' }),
    expiresAt: Type.String({ format: 'date-time', description: 'a minute after it was made' }),
  },
  { $id: 'Ticket', additionalProperties: false },
);

export const TicketQueryProperty = Type.Optional(
  Type.String({
    pattern: '^lxsst_[A-Za-z0-9_-]{43}$',
    description: 'a one-time ticket (`POST /v1/tickets`) in place of the Authorization header, for a browser that can only give a URL',
  }),
);

export const LoginCodeSchema = Type.Object(
  {
    code: Type.String({ pattern: '^lxssl_[A-Za-z0-9_-]{43}$', description: 'good for one exchange, by anyone who has it: keep it out of logs' }),
    expiresAt: Type.String({ format: 'date-time', description: 'a minute after it was made' }),
    url: Type.String({ description: 'the dashboard with the code in the fragment (`#login=`), which never reaches a server' }),
  },
  { $id: 'LoginCode', additionalProperties: false },
);

export const LoginExchangeBody = Type.Object(
  { code: Type.String({ minLength: 1, maxLength: 256 }) },
  { $id: 'LoginExchangeRequest', additionalProperties: false, examples: [{ code: 'lxssl_3q2-7wEXAMPLEexampleEXAMPLEexampleEXAMPLEex' }] },
);

export const DashboardTokenSchema = Type.Object(
  {
    token: Type.String({ description: 'a SID token labelled `dashboard`: the secret, shown once' }),
    expiresAt: Type.String({ format: 'date-time', description: '12 hours after the exchange' }),
  },
  { $id: 'DashboardToken', additionalProperties: false },
);
