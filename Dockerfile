# The Switchboard image: one image, every role (registry, socket, health, standalone).
#   docker build -t switchboard .
#   docker run switchboard standalone
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY plugins plugins
COPY servers servers
COPY client client
COPY infra infra
RUN npm run build

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist dist
# The admin dashboard is served from its sources (plain ES modules, no build step).
COPY --from=build /app/client/admin client/admin
COPY infra infra
USER node
# Every role answers GET /healthz on $PORT.
HEALTHCHECK --interval=5s --timeout=2s --start-period=10s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["node", "dist/servers/cli.js"]
CMD ["standalone"]
