// GraphQL Code Generator: typed documents from schema.graphql (the file the
// server writes with `make schema`) and the operations in src/operations/.
// Run with `npm run codegen`; the output in src/gql/ is committed, and
// tests/e2e/test_typescript_client.py fails when it no longer matches.
import type { CodegenConfig } from "@graphql-codegen/cli";

const config: CodegenConfig = {
  schema: "../../schema.graphql",
  documents: ["src/operations/**/*.graphql"],
  // A schema or document the generator cannot read is an error, not an empty output.
  ignoreNoDocuments: false,
  // Relative imports with a .js extension: the package is an ES module, and
  // node (and tsc with module nodenext) resolve nothing without one.
  emitLegacyCommonJSImports: false,
  generates: {
    "src/gql/": {
      preset: "client",
      presetConfig: {
        // The thin client hands back plain data: no useFragment() unmasking.
        fragmentMasking: false,
        // persisted-documents.json (hash -> document text) next to the code:
        // the trusted-documents allow-list the server loads. Each generated
        // document keeps its text and carries its hash in __meta__.hash.
        persistedDocuments: { mode: "embedHashInDocument", hashAlgorithm: "sha256" },
      },
      config: {
        // Every custom scalar of schema.graphql, as it travels in JSON
        // (docs/frontend.md, "Formats"). strictScalars makes a new scalar
        // without a mapping here a codegen error instead of `any`.
        strictScalars: true,
        scalars: {
          ID: "string", // every id is a UUID string
          Decimal: "string", // "15000.00": never a JS number
          DateTime: "string", // ISO-8601 UTC, "2026-11-27T09:30:00Z"
          Date: "string", // a calendar day, "2026-11-30"
        },
        // Enums as string unions: the JSON values themselves, no runtime code.
        enumsAsTypes: true,
        useTypeImports: true,
        // Types for the operations' variables and results only, not every
        // schema type.
        onlyOperationTypes: true,
        // Unknown future enum values would still be strings at run time;
        // keep the unions exact so a schema change shows up in the types.
        futureProofEnums: false,
        avoidOptionals: false,
        skipTypename: true,
      },
    },
  },
};

export default config;
