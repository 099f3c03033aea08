// A small client written against the types openapi-typescript generates from the API's own
// OpenAPI document (infra/local/test.sh generates them, type-checks this file and runs it
// against the local stack). If the document stops describing what the API takes and answers,
// this stops compiling or its checks fail.
import type { components, paths } from "fieldvault-api";

// Node's globals, without depending on @types/node.
declare const process: { env: Record<string, string | undefined>; exitCode?: number };

type Method = "get" | "post" | "patch" | "put";
type Op<P extends keyof paths, M extends Method> = NonNullable<paths[P][M]>;
type Answer<O, S extends number> = O extends {
  responses: { [K in S]: { content: { "application/json": infer T } } };
}
  ? T
  : never;
type Body<O> = O extends { requestBody: { content: { "application/json": infer T } } }
  ? T
  : never;
type Problem = components["schemas"]["Problem"];

class Api {
  constructor(
    private readonly base: string,
    private readonly token: string,
  ) {}

  private async call(method: string, path: string, body?: unknown): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}` };
    const init: RequestInit = { method, headers };
    if (body !== undefined) {
      headers["content-type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(`${this.base}${path}`, init);
  }

  private async json<T>(response: Response, status: number): Promise<T> {
    if (response.status !== status) {
      throw new Error(`expected ${status}, got ${response.status}: ${await response.text()}`);
    }
    return (await response.json()) as T;
  }

  async me(): Promise<Answer<Op<"/me", "get">, 200>> {
    return this.json(await this.call("GET", "/me"), 200);
  }

  async createCustomer(
    body: Body<Op<"/customers", "post">>,
  ): Promise<Answer<Op<"/customers", "post">, 201>> {
    return this.json(await this.call("POST", "/customers", body), 201);
  }

  async customer(id: string): Promise<Answer<Op<"/customers/{id}", "get">, 200>> {
    return this.json(await this.call("GET", `/customers/${encodeURIComponent(id)}`), 200);
  }

  async customers(limit: number): Promise<Answer<Op<"/customers", "get">, 200>> {
    return this.json(await this.call("GET", `/customers?limit=${limit}`), 200);
  }

  async problem(method: string, path: string, status: number): Promise<Problem> {
    const response = await this.call(method, path);
    if (response.headers.get("content-type") !== "application/problem+json") {
      throw new Error(`${method} ${path}: not a problem`);
    }
    return this.json<Problem>(response, status);
  }
}

// What the generated types must refuse: these lines compile only because the errors are
// expected (tsc fails on an @ts-expect-error that has no error to expect).
export function refusedByTheTypes(api: Api): void {
  // @ts-expect-error a role outside the five shop roles
  const role: components["schemas"]["Role"] = "customer";
  // @ts-expect-error a customer needs a name
  void api.createCustomer({ contact_points: [] });
  void role;
}

function check(condition: boolean, what: string): void {
  if (!condition) {
    throw new Error(what);
  }
}

async function main(): Promise<void> {
  const base = process.env["FV_API_URL"];
  const token = process.env["FV_CLIENT_TOKEN"];
  if (!base || !token) {
    throw new Error("FV_API_URL and FV_CLIENT_TOKEN must be set");
  }
  const api = new Api(base, token);
  const me = await api.me();
  check(me.role === "owner", `signed in as ${me.role}`);
  const phone = `+1555${String(Date.now() % 10_000_000).padStart(7, "0")}`;
  const created = await api.createCustomer({
    name: "Typed Client",
    contact_points: [{ kind: "phone", value: phone, sms_consent: false }],
    service_locations: [],
  });
  const read = await api.customer(created.id);
  check(read.name === "Typed Client", "the customer reads back");
  const page = await api.customers(5);
  check(page.items.length <= 5, "a page holds at most limit items");
  const missing = await api.problem("GET", "/customers/01ARZ3NDEKTSV4RRFFQ69G5FAV", 404);
  check(missing.status === 404 && missing.errors === undefined, "a 404 problem without errors");
  console.log("typed client: 4 calls answered as the OpenAPI document says");
}

main().catch((error: unknown) => {
  console.error(`typed client: ${String(error)}`);
  process.exitCode = 1;
});
