// A minimal @octokit/webhooks receiver on node's own http server: verify, parse, dispatch in
// memory, answer. WEBHOOK_SECRET, HOST and PORT come from the environment.
import { createServer } from "node:http";
import { Webhooks, createNodeMiddleware } from "@octokit/webhooks";

const webhooks = new Webhooks({ secret: process.env.WEBHOOK_SECRET });
webhooks.onAny(() => {});

const middleware = createNodeMiddleware(webhooks, { path: "/webhooks/github" });
createServer(middleware).listen(Number(process.env.PORT), process.env.HOST || "127.0.0.1");
