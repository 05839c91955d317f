// The deployment guide's Express token proxy, for `python -m bench.proxy` only: cors with an
// allowlist of origins, express-rate-limit on the create endpoint, the agent-for-domain check
// from the guide's security section, and fetch to Retell's create-web-call. Configured from the
// environment by the benchmark: PORT, RETELL_API_KEY, RETELL_BASE_URL, REGISTRY_JSON (clients
// with their exact origins and agents, generated from the same registry our proxy reads) and
// RATE_LIMIT (requests per IP per 15 minutes; the benchmark sets it too high to trigger).
'use strict';
const fs = require('node:fs');
const express = require('express');
const cors = require('cors');
const rateLimit = require('express-rate-limit');

const registry = JSON.parse(fs.readFileSync(process.env.REGISTRY_JSON, 'utf8'));
const allowedOrigins = registry.clients.flatMap((client) => client.origins);
const originsByAgent = new Map(registry.clients.flatMap((client) => client.agents.map((agent) => [agent, client.origins])));
const retellBaseUrl = (process.env.RETELL_BASE_URL || 'https://api.retellai.com').replace(/\/$/, '');

const app = express();

app.use('/api', cors({
  origin: function (origin, callback) {
    // Allow requests with no origin (mobile apps, etc)
    if (!origin) return callback(null, true);
    if (allowedOrigins.includes(origin)) {
      return callback(null, true);
    }
    // (The guide's "allow any origin containing 'localhost'" development shortcut is left out.)
    callback(new Error('Not allowed by CORS'));
  },
  credentials: true,
  methods: ['GET', 'POST', 'OPTIONS'],
  allowedHeaders: ['Content-Type', 'Authorization'],
}));

app.use(express.json());

const createWebCallLimiter = rateLimit({
  windowMs: 15 * 60 * 1000, // 15 minutes
  limit: Number(process.env.RATE_LIMIT || 100), // the guide's `max`, under its current name
  message: 'Too many call creation requests, please try again later',
});

app.use('/api/create-web-call', createWebCallLimiter);

async function validateAgentForDomain(agentId, origin) {
  const origins = originsByAgent.get(agentId);
  return origins !== undefined && origins.includes(origin);
}

app.post('/api/create-web-call', async (req, res) => {
  try {
    const { agent_id } = req.body || {};
    if (!agent_id) {
      return res.status(400).json({ error: 'agent_id is required' });
    }
    const isAuthorized = await validateAgentForDomain(agent_id, req.get('origin'));
    if (!isAuthorized) {
      return res.status(403).json({ error: 'Unauthorized agent access' });
    }
    const response = await fetch(`${retellBaseUrl}/v2/create-web-call`, {
      method: 'POST',
      headers: {
        'Authorization': `Bearer ${process.env.RETELL_API_KEY}`,
        'Content-Type': 'application/json',
      },
      body: JSON.stringify({ agent_id }),
    });
    if (!response.ok) {
      throw new Error(`Retell AI API error: ${response.status}`);
    }
    const data = await response.json();
    res.json({ access_token: data.access_token });
  } catch (error) {
    console.error('Create web call error:', error);
    res.status(500).json({ error: 'Failed to create web call', details: error.message });
  }
});

app.get('/api/health', (req, res) => {
  res.json({ status: 'ok', timestamp: new Date().toISOString() });
});

const PORT = process.env.PORT || 3001;
app.listen(PORT, '127.0.0.1', () => {
  console.log(`Retell proxy server running on port ${PORT}`);
});
