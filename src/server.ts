// buildServer(config): the whole service as a Fastify instance, ready to listen. Used by main and by every
// test; it never listens itself (see listen.ts).

import websocket from '@fastify/websocket';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Config } from './config.js';
import { addressPeer, ConnectionGuard, httpServerOptions, userPeer } from './connection-guard.js';
import { LxssError } from './core/errors.js';
import { LxssService } from './core/service.js';
import { createHypervisor, type Hypervisor } from './hv/index.js';
import { LocalSocketServer } from './local-socket.js';
import { loggerOptions, requestLogController } from './log-options.js';
import { lazyChildLogger } from './request-logger.js';
import { v1Routes } from './routes/index.js';
import { buildSerializer } from './routes/serialization.js';
import { buildValidator } from './routes/validation.js';
import { chooseSubprotocol } from './routes/subprotocols.js';
import bodyTimeouts from './routes/plugins/body-timeouts.js';
import loopbackGuard from './routes/plugins/loopback-guard.js';
import dashboard from './routes/plugins/dashboard.js';
import asyncapi from './routes/plugins/asyncapi.js';
import openapi from './routes/plugins/openapi.js';
import problemDetails, {
  answerNodeErrors,
  answerClientError,
  frameworkProblem,
  handshakeErrorHandler,
} from './routes/plugins/problem-details.js';
import securityHeaders from './routes/plugins/security-headers.js';
import './routes/fastify-types.js';

export interface ServerDeps {
  hv?: Hypervisor;
}

export interface LxssServer extends FastifyInstance {
  localSocket: LocalSocketServer;
  /** admission of connections on both listeners */
  connections: ConnectionGuard;
}

export async function buildServer(config: Config, deps: ServerDeps = {}): Promise<LxssServer> {
  const hv =
    deps.hv ??
    (await createHypervisor({
      linux: { idFilesDir: config.idFilesDir, allocateSubordinateIds: config.allocateSubordinateIds },
    }));
  const http = httpServerOptions(config);
  const app = Fastify({
    logger: loggerOptions(config.logLevel),
    logController: requestLogController(),
    childLoggerFactory: lazyChildLogger,
    schemaController: { compilersFactory: { buildValidator, buildSerializer } },
    // Node's and Fastify's own answers (parser errors, a bad URL, closing) become problem documents too.
    clientErrorHandler(error, socket) {
      // Fastify calls it bound to the instance.
      answerClientError((this as unknown as FastifyInstance).log, error, socket);
    },
    frameworkErrors: frameworkProblem,
    return503OnClosing: false,
    // A {distro} may be 256 characters (a name, or any id or name to look up), each up to 12 bytes once
    // percent-encoded: the router's default of 100 answered such a valid request 414 before validation.
    routerOptions: { maxParamLength: 3072 },
    http,
    keepAliveTimeout: http.keepAliveTimeout,
    requestTimeout: 0,
  }).withTypeProvider<TypeBoxTypeProvider>();
  answerNodeErrors(app.server, app.log, { fastifyOwnsClientError: true });
  const connections = new ConnectionGuard({
    maxConnections: config.maxConnections,
    maxConnectionsPerPeer: config.maxConnectionsPerPeer,
    descriptorLimit: () => hv.descriptorLimit(),
    openDescriptors: () => hv.openDescriptors(),
    log: (message, detail) => app.log.warn(detail, message),
  });
  app.decorate('connections', connections);
  connections.watch(app.server, (socket) => ({ peer: addressPeer(socket), authenticated: false }));
  // First of all hooks: a request on a refused connection goes no further, and every other one is counted busy.
  // (A callback hook, as every hook each request runs: an async one costs each request a promise.)
  app.addHook('onRequest', (request, reply, done) => {
    const socket = request.raw.socket;
    if (connections.isRefused(socket)) return done(new LxssError('LXSSD_E_OUT_OF_RESOURCES', 'this connection was refused'));
    reply.raw.once('close', connections.requestStarted(socket, request.headers.upgrade !== undefined));
    done();
  });
  app.addHook('preClose', async () => connections.closeIdle());
  // JSON bodies come as application/json only: a text/plain body was parsed as a string and then failed
  // validation with a puzzling 400, and it is the type a web page may post cross-site without a preflight.
  app.removeContentTypeParser('text/plain');

  const service = await LxssService.open(hv, config, (message, detail) => app.log.info(detail ?? {}, message));
  app.decorate('lxss', service);
  const localSocket = new LocalSocketServer(app, hv, http);
  app.decorate('localSocket', localSocket);
  answerNodeErrors(localSocket.server, app.log);
  connections.watch(localSocket.server, (socket) => {
    const peer = localSocket.peerOf(socket);
    return peer && { peer: userPeer(peer.sid), authenticated: true };
  });
  app.addHook('onClose', async () => {
    await localSocket.close();
    await service.close();
  });

  await app.register(problemDetails);
  // Before the guards: its onRequest hook marks upgrade requests, so a refused upgrade's socket is closed.
  await app.register(websocket, {
    options: { handleProtocols: chooseSubprotocol, maxPayload: 1 << 20 },
    // Clients learn why the socket ends: 1001 "going away", not the bare close the plugin would send.
    preClose(done) {
      for (const client of this.websocketServer.clients) client.close(1001, 'lxssd is shutting down');
      this.websocketServer.close(() => done());
    },
  });
  app.websocketServer.on('wsClientError', handshakeErrorHandler);
  await app.register(securityHeaders);
  await app.register(bodyTimeouts, { bodyTimeout: config.bodyTimeout, bodyIdleTimeout: config.bodyIdleTimeout });
  await app.register(loopbackGuard, { isLocalConnection: (socket) => localSocket.peerOf(socket) !== undefined });
  await app.register(openapi);
  await app.register(asyncapi);
  await app.register(dashboard);
  await app.register(v1Routes, {
    prefix: '/v1',
    localPeerOf: (socket) => localSocket.peerOf(socket),
    onAuthenticated: (socket, caller) => connections.authenticated(socket, caller.sid),
  });
  return app as unknown as LxssServer;
}
