package broker

// onPublish routes the message of a PUBLISH the Connection accepted (and
// acknowledges once it has returned), if the client may publish on its
// topic; a message it may not is dropped, acknowledged all the same
// (MQTT-3.3.5-2 of 3.1.1).
func (c *conn) onPublish(m *message) {
	if !c.mayPublish(m.topic) {
		c.logf("not authorized to publish on %q: message dropped", m.topic)
		return
	}
	c.b.route(m, &c.router)
}

// mayPublish asks Config.MayPublish whether the client may publish on
// topic.
func (c *conn) mayPublish(topic string) bool {
	return c.b.cfg.MayPublish == nil || c.b.cfg.MayPublish(c.clientID, topic)
}
