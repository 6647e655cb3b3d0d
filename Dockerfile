# opences: one image for every role (ca, ces, cep, admin); docker-compose.yml wires them.
# Build: docker build -t opences .   Run: docker run opences serve --role …
FROM node:20-bookworm-slim AS build
WORKDIR /app
# The optional Kerberos binding compiles against libkrb5 (skip these packages if you do not need Kerberos).
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ libkrb5-dev \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src ./src
# `npm ci` runs the prepare script, which compiles src/ to dist/.
RUN npm ci

FROM node:20-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libkrb5-3 libgssapi-krb5-2 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production \
    OPENCES_DATA_DIR=/var/lib/opences \
    OPENCES_HOST=0.0.0.0 \
    MALLOC_ARENA_MAX=2
# All of node_modules: the command line's requester verbs load undici, a devDependency today.
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY migrations ./migrations
COPY wsdl ./wsdl
COPY openapi ./openapi
RUN mkdir -p /var/lib/opences /var/lib/opences-clients && chown node:node /var/lib/opences /var/lib/opences-clients
USER node
VOLUME ["/var/lib/opences"]
# 8443 HTTPS (CEP, CES, admin API, health), 8080 plain-HTTP /pki/, 9443 CA signing API (ca role only).
EXPOSE 8443 8080 9443
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "require('node:https').get({host:'127.0.0.1',port:process.env.OPENCES_PORT||8443,path:'/readyz',rejectUnauthorized:false},r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))"]
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["serve"]
