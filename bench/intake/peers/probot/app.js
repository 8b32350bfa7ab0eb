// A minimal Probot app: Probot verifies, parses and dispatches every delivery in memory; the
// handler does nothing, so what is measured is Probot's own receiving path.
// Started with `probot run ./app.js`; APP_ID, PRIVATE_KEY, WEBHOOK_SECRET, HOST and PORT come
// from the environment.
export default (app) => {
  app.onAny(async () => {});
};
