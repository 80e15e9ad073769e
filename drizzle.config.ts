// drizzle-kit configuration: generates SQL migrations from src/store/schema.ts.
// Run `deno task db:generate`, which also refreshes src/store/migrations/index.ts.
export default {
  dialect: "sqlite",
  schema: "./src/store/schema.ts",
  out: "./src/store/migrations",
};
